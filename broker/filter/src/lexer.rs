//! The tokens of RocketMQ's selector grammar (`SelectorParser.jj`): case-insensitive keywords,
//! identifiers `[a-z_$][a-z0-9_$]*`, decimal (`0`, `[1-9][0-9]*`, optional `L`) and floating
//! literals, `'...'` strings with `''` as the quote escape, the operators `= <> > >= < <= ( ) , + -`,
//! whitespace (space, tab, CR, LF, form feed) and `--`/`/* */` comments skipped.

use crate::error::{ParseError, ParseErrorKind};

/// Reserved words (matched ignoring case; a longer identifier wins, e.g. `notes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// NOT
    Not,
    /// AND
    And,
    /// OR
    Or,
    /// BETWEEN
    Between,
    /// IN
    In,
    /// TRUE
    True,
    /// FALSE
    False,
    /// NULL
    Null,
    /// IS
    Is,
    /// CONTAINS (5.x)
    Contains,
    /// STARTSWITH (5.x)
    StartsWith,
    /// ENDSWITH (5.x)
    EndsWith,
}

impl Keyword {
    fn lookup(word: &str) -> Option<Keyword> {
        const WORDS: [(&str, Keyword); 12] = [
            ("NOT", Keyword::Not),
            ("AND", Keyword::And),
            ("OR", Keyword::Or),
            ("BETWEEN", Keyword::Between),
            ("IN", Keyword::In),
            ("TRUE", Keyword::True),
            ("FALSE", Keyword::False),
            ("NULL", Keyword::Null),
            ("IS", Keyword::Is),
            ("CONTAINS", Keyword::Contains),
            ("STARTSWITH", Keyword::StartsWith),
            ("ENDSWITH", Keyword::EndsWith),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, k)| *k)
    }
}

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A reserved word.
    Keyword(Keyword),
    /// A property name, as written.
    Ident(String),
    /// A decimal literal (as written, without the `L` suffix).
    Decimal(String),
    /// A floating literal, as written.
    Float(String),
    /// A string literal, decoded.
    Str(String),
    /// `=` `<>` `>` `>=` `<` `<=` `(` `)` `,` `+` `-`.
    Symbol(&'static str),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Keyword(k) => write!(f, "{}", format!("{k:?}").to_uppercase()),
            Token::Ident(s) | Token::Decimal(s) | Token::Float(s) => write!(f, "\"{s}\""),
            Token::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Token::Symbol(s) => write!(f, "\"{s}\""),
        }
    }
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The token.
    pub token: Token,
    /// Byte offset in the expression.
    pub position: usize,
}

/// Splits `input` into tokens.
pub fn tokenize(input: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut lexer = Lexer { input, pos: 0 };
    let mut tokens = Vec::new();
    while let Some(token) = lexer.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.input.as_bytes().get(self.pos + n).copied()
    }

    fn next_token(&mut self) -> Result<Option<Spanned>, ParseError> {
        self.skip_blanks()?;
        let start = self.pos;
        let Some(c) = self.rest().chars().next() else {
            return Ok(None);
        };
        let token = match c {
            '\'' => self.string()?,
            '0'..='9' => self.number(),
            '.' if self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) => self.number(),
            'a'..='z' | 'A'..='Z' | '_' | '$' => self.word(),
            _ => self.symbol(c)?,
        };
        Ok(Some(Spanned {
            token,
            position: start,
        }))
    }

    fn skip_blanks(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            if rest
                .bytes()
                .next()
                .is_some_and(|b| b" \t\r\n\x0c".contains(&b))
            {
                self.pos += 1;
            } else if rest.starts_with("--") {
                // A line comment runs to the end of the line (or of the input).
                self.pos += rest.find(['\n', '\r']).unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                let Some(end) = body.find("*/") else {
                    return Err(ParseError::new(
                        self.pos,
                        ParseErrorKind::UnterminatedComment,
                    ));
                };
                self.pos += end + 4;
            } else {
                return Ok(());
            }
        }
    }

    fn string(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let mut value = String::new();
        let mut rest = &self.input[start + 1..];
        loop {
            let Some(quote) = rest.find('\'') else {
                return Err(ParseError::new(start, ParseErrorKind::UnterminatedString));
            };
            value.push_str(&rest[..quote]);
            rest = &rest[quote + 1..];
            if rest.starts_with('\'') {
                value.push('\'');
                rest = &rest[1..];
            } else {
                self.pos = self.input.len() - rest.len();
                return Ok(Token::Str(value));
            }
        }
    }

    fn digits(&mut self) -> usize {
        let n = self
            .rest()
            .bytes()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.pos += n;
        n
    }

    /// Longest match of DECIMAL_LITERAL | FLOATING_POINT_LITERAL.
    fn number(&mut self) -> Token {
        let start = self.pos;
        let int_digits = self.digits();
        let mut is_float = false;
        if self.peek_at(0) == Some(b'.') {
            self.pos += 1;
            self.digits();
            is_float = true;
        }
        if self.exponent() {
            is_float = true;
        }
        if is_float {
            return Token::Float(self.input[start..self.pos].to_owned());
        }
        // DECIMAL_LITERAL is "0" alone or a number without a leading zero.
        if self.input.as_bytes()[start] == b'0' && int_digits > 1 {
            self.pos = start + 1;
        }
        let text = self.input[start..self.pos].to_owned();
        if text != "0" && matches!(self.peek_at(0), Some(b'l' | b'L')) {
            self.pos += 1;
        }
        Token::Decimal(text)
    }

    /// Consumes `E[+-]?[0-9]+` when it is there.
    fn exponent(&mut self) -> bool {
        if !matches!(self.peek_at(0), Some(b'e' | b'E')) {
            return false;
        }
        let sign = usize::from(matches!(self.peek_at(1), Some(b'+' | b'-')));
        if !self.peek_at(1 + sign).is_some_and(|b| b.is_ascii_digit()) {
            return false;
        }
        self.pos += 1 + sign;
        self.digits();
        true
    }

    fn word(&mut self) -> Token {
        let start = self.pos;
        let n = self
            .rest()
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$')
            .count();
        self.pos += n;
        let word = &self.input[start..self.pos];
        Keyword::lookup(word).map_or_else(|| Token::Ident(word.to_owned()), Token::Keyword)
    }

    fn symbol(&mut self, c: char) -> Result<Token, ParseError> {
        const SYMBOLS: [&str; 11] = ["<>", ">=", "<=", "=", ">", "<", "(", ")", ",", "+", "-"];
        let rest = self.rest();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                self.pos += s.len();
                Ok(Token::Symbol(s))
            }
            None => Err(ParseError::new(self.pos, ParseErrorKind::UnexpectedChar(c))),
        }
    }
}
