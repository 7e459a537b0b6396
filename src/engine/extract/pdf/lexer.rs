//! Tokens of a content stream (ISO 32000-1, 7.2 and 8.1): numbers,
//! strings, names, array brackets and operators, read without allocating
//! but for string and name bytes. What the tokens mean is [`super::text`]'s.

use super::PdfError;

/// A content stream token; strings and names are ranges of
/// [`Operands::strings`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Token<'c> {
    Number(f32),
    String(usize, usize),
    Name(usize, usize),
    ArrayStart,
    ArrayEnd,
    /// Dictionary delimiters and anything else an operator never reads.
    Other,
    Operator(&'c [u8]),
}

/// The operands since the last operator. A hostile stream's run of
/// operands is kept to its last [`Operands::MAX`], strings first; the
/// bytes of its strings are bounded by the stream's size.
#[derive(Default)]
pub(super) struct Operands<'c> {
    pub(super) tokens: Vec<Token<'c>>,
    pub(super) strings: Vec<u8>,
}

impl<'c> Operands<'c> {
    const MAX: usize = 1 << 16;

    /// Keeps `token`. More strings in one run than any text operator
    /// shows are an error, not dropped: they may be the text.
    pub(super) fn push(&mut self, token: Token<'c>) -> Result<(), PdfError> {
        if self.tokens.len() == Self::MAX {
            // Strings are what text is made of: the rest goes first.
            self.tokens
                .retain(|t| matches!(t, Token::String(..) | Token::ArrayStart));
            // At least half is freed each time, so a long run costs
            // linear time.
            if self.tokens.len() > Self::MAX / 2 {
                return Err(PdfError(format!(
                    "more than {} strings in a row in a content stream, more than a page shows at once",
                    Self::MAX / 2
                )));
            }
        }
        self.tokens.push(token);
        Ok(())
    }

    pub(super) fn clear(&mut self) {
        self.tokens.clear();
        self.strings.clear();
    }

    pub(super) fn last_string(&self) -> Option<&[u8]> {
        match self.tokens.last()? {
            Token::String(from, to) => Some(&self.strings[*from..*to]),
            _ => None,
        }
    }

    pub(super) fn last_name(&self) -> Option<&[u8]> {
        self.tokens.iter().rev().find_map(|t| match *t {
            Token::Name(from, to) => Some(&self.strings[from..to]),
            _ => None,
        })
    }

    /// The last `N` operands, if all are numbers.
    pub(super) fn numbers<const N: usize>(&self) -> Option<[f32; N]> {
        let tail = self.tokens.get(self.tokens.len().checked_sub(N)?..)?;
        let mut out = [0.0; N];
        for (slot, token) in out.iter_mut().zip(tail) {
            match token {
                Token::Number(n) => *slot = *n,
                _ => return None,
            }
        }
        Some(out)
    }
}

/// PDF's lexical conventions (ISO 32000-1, 7.2), for content streams.
pub(super) struct Lexer<'c> {
    bytes: &'c [u8],
    at: usize,
}

impl<'c> Lexer<'c> {
    pub(super) fn new(bytes: &'c [u8]) -> Self {
        Lexer { bytes, at: 0 }
    }
}

/// What each byte is to the lexer.
const WHITE: u8 = 1;
const DELIMITER: u8 = 2;
static CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut i = 0;
    while i < 256 {
        class[i] = match i as u8 {
            b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0' => WHITE,
            b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%' => DELIMITER,
            _ => 0,
        };
        i += 1;
    }
    class
};

fn is_white(b: u8) -> bool {
    CLASS[usize::from(b)] == WHITE
}

impl<'c> Lexer<'c> {
    /// The next token; string and name bytes are appended to `strings`.
    pub(super) fn next(&mut self, strings: &mut Vec<u8>) -> Option<Token<'c>> {
        let bytes = self.bytes;
        loop {
            let b = *bytes.get(self.at)?;
            match b {
                _ if is_white(b) => self.at += 1,
                b'%' => {
                    self.at = memchr::memchr2(b'\n', b'\r', &bytes[self.at..])
                        .map_or(bytes.len(), |n| self.at + n);
                }
                b'(' => return Some(self.literal(strings)),
                b'<' if bytes.get(self.at + 1) == Some(&b'<') => {
                    self.at += 2;
                    return Some(Token::Other);
                }
                b'<' => return Some(self.hex(strings)),
                b'>' | b')' | b'{' | b'}' => {
                    self.at += 1 + usize::from(bytes.get(self.at + 1) == Some(&b'>'));
                    return Some(Token::Other);
                }
                b'[' => {
                    self.at += 1;
                    return Some(Token::ArrayStart);
                }
                b']' => {
                    self.at += 1;
                    return Some(Token::ArrayEnd);
                }
                b'/' => {
                    self.at += 1;
                    let from = strings.len();
                    name(self.word(), strings);
                    return Some(Token::Name(from, strings.len()));
                }
                _ => {
                    let word = self.word();
                    return Some(match number(word) {
                        Some(n) => Token::Number(n),
                        None => Token::Operator(word),
                    });
                }
            }
        }
    }

    /// The regular characters from here on.
    fn word(&mut self) -> &'c [u8] {
        let rest = &self.bytes[self.at..];
        let len = rest
            .iter()
            .position(|b| CLASS[usize::from(*b)] != 0)
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// A `( … )` string: balanced parentheses, backslash escapes.
    fn literal(&mut self, out: &mut Vec<u8>) -> Token<'c> {
        let bytes = self.bytes;
        let from = out.len();
        let mut depth = 0usize;
        self.at += 1;
        while let Some(&b) = bytes.get(self.at) {
            self.at += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' if depth == 0 => break,
                b')' => {
                    depth -= 1;
                    out.push(b);
                }
                b'\\' => {
                    let Some(&e) = bytes.get(self.at) else { break };
                    self.at += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut code = u32::from(e - b'0');
                            for _ in 0..2 {
                                match bytes.get(self.at) {
                                    Some(d @ b'0'..=b'7') => {
                                        code = code * 8 + u32::from(d - b'0');
                                        self.at += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(code as u8);
                        }
                        // A backslash at the end of a line continues it.
                        b'\r' => {
                            if bytes.get(self.at) == Some(&b'\n') {
                                self.at += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
        Token::String(from, out.len())
    }

    /// A `< … >` string of hex digits; white space is ignored and a last
    /// odd digit is followed by 0.
    fn hex(&mut self, out: &mut Vec<u8>) -> Token<'c> {
        let bytes = self.bytes;
        let from = out.len();
        let mut high: Option<u8> = None;
        self.at += 1;
        while let Some(&b) = bytes.get(self.at) {
            self.at += 1;
            let digit = match b {
                b'>' => break,
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => continue,
            };
            match high.take() {
                Some(h) => out.push(h << 4 | digit),
                None => high = Some(digit),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        Token::String(from, out.len())
    }

    /// Skips an inline image's data, from `ID` to its `EI`. An image with
    /// no filter is as long as its dictionary says (rows of width,
    /// components and bits, times height), and readers take it so: the
    /// `EI` after that many bytes ends it even with no white space before
    /// it, and one inside the data does not. Otherwise the data ends at
    /// the first `EI` that stands alone between white space.
    pub(super) fn skip_inline_image(&mut self) {
        let bytes = self.bytes;
        let Some(id) = memchr::memmem::find(&bytes[self.at..], b"ID") else {
            self.at = bytes.len();
            return;
        };
        let data = self.at + id + 3;
        let known = inline_image_length(&bytes[self.at..self.at + id])
            .and_then(|len| Some(data.checked_add(len)?).filter(|end| *end <= bytes.len()));
        if let Some(end) = known {
            let white = bytes[end..].iter().take_while(|b| is_white(**b)).count();
            let ei = &bytes[end + white..];
            if ei.starts_with(b"EI") && ei.get(2).is_none_or(|b| CLASS[usize::from(*b)] != 0) {
                self.at = end + white + 2;
                return;
            }
        }
        let mut at = data;
        while let Some(n) = bytes.get(at..).and_then(|b| memchr::memmem::find(b, b"EI")) {
            let ei = at + n;
            let before = ei == 0 || is_white(bytes[ei - 1]);
            let after = bytes.get(ei + 2).is_none_or(|b| is_white(*b));
            if before && after {
                self.at = ei + 2;
                return;
            }
            at = ei + 2;
        }
        self.at = bytes.len();
    }
}

/// An unfiltered inline image's data length, from its dictionary (ISO
/// 32000-1, 8.9.7); `None` when it cannot be known here: a filter, a
/// colour space named by a resource, a nested dictionary, a missing or
/// outlandish size.
fn inline_image_length(dict: &[u8]) -> Option<usize> {
    let mut lexer = Lexer::new(dict);
    let mut strings = Vec::new();
    let (mut width, mut height, mut bits, mut colors, mut mask) =
        (None, None, None, Some(1), false);
    let mut tokens = std::iter::from_fn(|| lexer.next(&mut strings))
        .collect::<Vec<_>>()
        .into_iter();
    while let Some(token) = tokens.next() {
        let Token::Name(from, to) = token else {
            return None;
        };
        let key = strings[from..to].to_vec();
        let value = tokens.next()?;
        let number = |t: Token| match t {
            Token::Number(n) if n >= 1.0 && n <= (1 << 20) as f32 && n.fract() == 0.0 => {
                Some(n as u64)
            }
            _ => None,
        };
        match &key[..] {
            b"W" | b"Width" => width = number(value),
            b"H" | b"Height" => height = number(value),
            b"BPC" | b"BitsPerComponent" => bits = number(value),
            b"IM" | b"ImageMask" => mask = value == Token::Operator(&b"true"[..]),
            b"CS" | b"ColorSpace" => {
                colors = match value {
                    Token::Name(from, to) => match &strings[from..to] {
                        b"G" | b"DeviceGray" | b"CalGray" => Some(1),
                        b"RGB" | b"DeviceRGB" | b"CalRGB" => Some(3),
                        b"CMYK" | b"DeviceCMYK" => Some(4),
                        _ => None,
                    },
                    // `[/I base hival lookup]`: one index a pixel.
                    Token::ArrayStart => {
                        let first = tokens.next()?;
                        let indexed = matches!(first, Token::Name(f, t) if matches!(&strings[f..t], b"I" | b"Indexed"));
                        for t in tokens.by_ref() {
                            if t == Token::ArrayEnd {
                                break;
                            }
                        }
                        indexed.then_some(1)
                    }
                    _ => None,
                };
            }
            b"F" | b"Filter" => return None,
            _ if matches!(value, Token::ArrayStart | Token::Other) => return None,
            _ => {}
        }
    }
    let (bits, colors) = if mask { (1, 1) } else { (bits?, colors?) };
    let row = (width? * colors * bits).div_ceil(8);
    usize::try_from(row * height?).ok()
}

/// A name's bytes, its `#xx` escapes decoded (lopdf decodes them in the
/// resource dictionaries the name is looked up in).
fn name(word: &[u8], out: &mut Vec<u8>) {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < word.len() {
        match (
            word[i],
            word.get(i + 1).and_then(|b| hex(*b)),
            word.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'#', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// A PDF number: an optional sign, digits and at most one period.
fn number(word: &[u8]) -> Option<f32> {
    let (negative, digits) = match word.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, word),
    };
    // Digits are gathered as an integer and scaled once; past 18 of them
    // the rest are dropped (no position in a page needs them).
    let (mut value, mut places, mut digits_seen, mut seen_point) = (0u64, 0i32, 0u32, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                if digits_seen < 18 {
                    value = value * 10 + u64::from(b - b'0');
                    places += i32::from(seen_point);
                } else if !seen_point {
                    places -= 1;
                }
                digits_seen += 1;
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    const TENS: [f32; 19] = {
        let mut t = [1.0; 19];
        let mut i = 1;
        while i < 19 {
            t[i] = t[i - 1] * 10.0;
            i += 1;
        }
        t
    };
    let value = match usize::try_from(places) {
        Ok(p) => value as f32 / TENS[p],
        Err(_) => value as f32 * 10f32.powi(-places),
    };
    (digits_seen > 0).then_some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(content: &[u8]) -> (Vec<Token<'_>>, Vec<u8>) {
        let mut lexer = Lexer {
            bytes: content,
            at: 0,
        };
        let mut strings = Vec::new();
        let mut out = Vec::new();
        while let Some(t) = lexer.next(&mut strings) {
            out.push(t);
        }
        (out, strings)
    }

    #[test]
    fn strings_numbers_and_operators_are_read_as_pdf_writes_them() {
        let (tokens, strings) =
            tokens(b"[(a\\(b\\)\\101\\\n c) -250 <4142 3>] TJ /F#31 12.5 Tf % note\n-.5 0 Td");
        assert_eq!(
            tokens,
            vec![
                Token::ArrayStart,
                Token::String(0, 7),
                Token::Number(-250.0),
                Token::String(7, 10),
                Token::ArrayEnd,
                Token::Operator(b"TJ"),
                Token::Name(10, 12),
                Token::Number(12.5),
                Token::Operator(b"Tf"),
                Token::Number(-0.5),
                Token::Number(0.0),
                Token::Operator(b"Td"),
            ]
        );
        assert_eq!(&strings, b"a(b)A cAB0F1");
    }

    #[test]
    fn inline_image_data_is_skipped_up_to_a_lone_ei() {
        let content = b"BI /W 2 /H 1 ID \x00EIx(9)Tj EI\n(ok) Tj";
        let mut lexer = Lexer {
            bytes: content,
            at: 0,
        };
        let mut strings = Vec::new();
        assert_eq!(lexer.next(&mut strings), Some(Token::Operator(b"BI")));
        lexer.skip_inline_image();
        assert_eq!(lexer.next(&mut strings), Some(Token::String(0, 2)));
        assert_eq!(&strings, b"ok");
    }

    /// Readers end an unfiltered image's data by its length: text drawn
    /// right after an `EI` with no white space before it is not skipped,
    /// and an `EI` inside the data does not end it.
    #[test]
    fn an_unfiltered_inline_image_ends_where_its_size_says() {
        for (content, len) in [
            (&b"BI /W 2 /H 1 /BPC 8 /CS /G ID AAEI(9)Tj EI\n(ok) Tj"[..], 1),
            (b"BI /Width 1 /Height 1 /BitsPerComponent 8 /ColorSpace [/I /RGB 1 <000000ffffff>] ID A\nEI\n(9)Tj", 1),
            (b"BI /W 16 /H 1 /IM true ID \x00 EI\n(9)Tj", 1),
        ] {
            let mut lexer = Lexer { bytes: content, at: 0 };
            let mut strings = Vec::new();
            assert_eq!(lexer.next(&mut strings), Some(Token::Operator(b"BI")));
            lexer.skip_inline_image();
            assert_eq!(lexer.next(&mut strings), Some(Token::String(0, len)), "{content:?}");
            assert_eq!(&strings, b"9");
        }
        assert_eq!(inline_image_length(b"/W 2 /H 2 /BPC 8 /CS /RGB"), Some(12));
        assert_eq!(inline_image_length(b"/W 2 /H 2 /BPC 8 /CS /R0"), None);
        assert_eq!(inline_image_length(b"/W 2 /H 2 /BPC 8 /F /AHx"), None);
        assert_eq!(inline_image_length(b"/W 99999999 /H 2 /BPC 8"), None);
    }

    #[test]
    fn numbers_reject_what_is_not_one() {
        assert_eq!(number(b"-3.25"), Some(-3.25));
        assert_eq!(number(b"+.5"), Some(0.5));
        assert_eq!(number(b"4."), Some(4.0));
        assert_eq!(number(b"12345678901234567890"), Some(1.2345679e19));
        for word in [&b"-"[..], b".", b"1.2.3", b"T*", b"1e5"] {
            assert_eq!(number(word), None, "{word:?}");
        }
    }
}
