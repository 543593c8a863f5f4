//! The nom side of the codec, kept private: parsers here only split bytes.
//! Meaning (and which NOTIFICATION a short field implies) is decided by the
//! caller, which knows where in the message it is.

use nom::{IResult, Parser};

/// The input ended inside a fixed-size field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short;

impl<I> nom::error::ParseError<I> for Short {
    fn from_error_kind(_: I, _: nom::error::ErrorKind) -> Self {
        Short
    }

    fn append(_: I, _: nom::error::ErrorKind, _: Self) -> Self {
        Short
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, Short>;

pub(crate) fn u8(i: &[u8]) -> PResult<'_, u8> {
    nom::number::complete::be_u8(i)
}

pub(crate) fn u16(i: &[u8]) -> PResult<'_, u16> {
    nom::number::complete::be_u16(i)
}

pub(crate) fn u32(i: &[u8]) -> PResult<'_, u32> {
    nom::number::complete::be_u32(i)
}

pub(crate) fn take(n: usize) -> impl Fn(&[u8]) -> PResult<'_, &[u8]> {
    move |i: &[u8]| nom::bytes::complete::take(n)(i)
}

/// A one-octet length followed by that many octets.
pub(crate) fn u8_prefixed(i: &[u8]) -> PResult<'_, &[u8]> {
    nom::multi::length_data(nom::number::complete::be_u8).parse(i)
}

/// Runs `parser` and maps running out of input to the caller's error.
pub(crate) fn run<'a, O, E>(
    input: &'a [u8],
    mut parser: impl Parser<&'a [u8], Output = O, Error = Short>,
    on_short: impl FnOnce() -> E,
) -> Result<(&'a [u8], O), E> {
    parser.parse(input).map_err(|_| on_short())
}
