//! A chunked body's framing (RFC 9112 7.1), one byte at a time: chunk sizes, extensions,
//! the line ends after each chunk's data, and the trailer section that ends the body. The
//! data itself is skipped by its size ([`Chunk::Data`]) by the caller.

/// Where the scanner is in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// A chunk's size line: the size so far, and whether an extension (`;…`) started.
    Size { size: u64, extension: bool },
    /// A chunk's data: the bytes left.
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk; whether the current line is still empty.
    Trailers { empty_line: bool },
}

/// One byte's step through a chunked body's framing (not its data).
pub(crate) enum Step {
    Within(Chunk),
    BodyEnds,
}

/// Where `byte` takes a chunked body that is at `chunk`; `None` for a byte that breaks the
/// framing (hyper refuses the body).
pub(crate) fn next_chunk(chunk: Chunk, byte: u8) -> Option<Step> {
    let next = match chunk {
        Chunk::Size { size, extension } => match byte {
            b'\n' if size == 0 => Chunk::Trailers { empty_line: true },
            b'\n' => Chunk::Data(size),
            b'\r' => chunk,
            _ if extension => chunk,
            b';' | b' ' | b'\t' => Chunk::Size {
                size,
                extension: true,
            },
            _ => {
                let digit = (byte as char).to_digit(16)?;
                let size = size.checked_mul(16)?.checked_add(u64::from(digit))?;
                Chunk::Size {
                    size,
                    extension: false,
                }
            }
        },
        Chunk::DataEnd => match byte {
            b'\r' => chunk,
            b'\n' => Chunk::Size {
                size: 0,
                extension: false,
            },
            _ => return None,
        },
        Chunk::Trailers { empty_line } => match byte {
            b'\n' if empty_line => return Some(Step::BodyEnds),
            b'\n' => Chunk::Trailers { empty_line: true },
            b'\r' => chunk,
            _ => Chunk::Trailers { empty_line: false },
        },
        Chunk::Data(_) => chunk,
    };
    Some(Step::Within(next))
}
