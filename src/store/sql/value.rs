//! Values crossing the layer: [`ToValue`] turns a Rust parameter into a [`ValueRef`] at bind
//! time (checked, so an out-of-range number is an error, never a wrapped one), and
//! [`FromValue`] turns a column back into Rust. Only integers, text and NULL exist: booleans are
//! stored as 0/1 integers on every backend, times as Unix seconds.

use super::DbError;

/// An owned value, for parameter lists built at run time (the audit row's columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (also booleans, as 0/1).
    Int(i64),
    /// Text.
    Text(String),
}

/// A borrowed value: what a parameter is bound as and what a column is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(&'a str),
}

impl ValueRef<'_> {
    /// The type's name, for errors (never the value).
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Int(_) => "integer",
            ValueRef::Text(_) => "text",
        }
    }
}

/// Something that can be bound as a statement parameter.
pub trait ToValue {
    /// The value to bind; an error when it does not fit (a `u64` above `i64::MAX`).
    fn to_value(&self) -> Result<ValueRef<'_>, DbError>;
}

/// Something a column can be read as.
pub trait FromValue: Sized {
    /// Convert the column's value; an error names the types, never the value.
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError>;
}

impl ToValue for Value {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        Ok(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Int(*n),
            Value::Text(text) => ValueRef::Text(text),
        })
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        Ok(ValueRef::Int(*self))
    }
}

macro_rules! widening {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
                Ok(ValueRef::Int(i64::from(*self)))
            }
        }
    )*};
}
widening!(i32, u32, bool);

macro_rules! checked {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
                i64::try_from(*self)
                    .map(ValueRef::Int)
                    .map_err(|_| DbError::out_of_range(stringify!($ty)))
            }
        }
    )*};
}
checked!(u64, usize);

impl ToValue for str {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        Ok(ValueRef::Text(self))
    }
}

impl ToValue for String {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        Ok(ValueRef::Text(self))
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Result<ValueRef<'_>, DbError> {
        self.as_ref().map_or(Ok(ValueRef::Null), ToValue::to_value)
    }
}

/// Bind parameters: `vals![a, b, c]` is an array of `&dyn ToValue`, converted (and checked)
/// when the statement runs.
#[macro_export]
macro_rules! vals {
    () => {
        [] as [&dyn $crate::store::sql::ToValue; 0]
    };
    ($($value:expr),+ $(,)?) => {
        [$(&$value as &dyn $crate::store::sql::ToValue),+]
    };
}

impl FromValue for i64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        match value {
            ValueRef::Int(n) => Ok(n),
            other => Err(DbError::wrong_type("integer", other)),
        }
    }
}

impl FromValue for u32 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        u32::try_from(i64::from_value(value)?).map_err(|_| DbError::out_of_range("u32"))
    }
}

impl FromValue for u64 {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        u64::try_from(i64::from_value(value)?).map_err(|_| DbError::out_of_range("u64"))
    }
}

impl FromValue for bool {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        match value {
            ValueRef::Text(text) => Ok(text.to_string()),
            other => Err(DbError::wrong_type("text", other)),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        Ok(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Int(n) => Value::Int(n),
            ValueRef::Text(text) => Value::Text(text.to_string()),
        })
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: ValueRef<'_>) -> Result<Self, DbError> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}
