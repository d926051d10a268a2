//! A small XML reader and writer with the behaviour DSPy 3.4.1's XMLAdapter
//! gets from Python's `xml.etree.ElementTree` (expat underneath).
//!
//! [`parse_children`] reads an LM reply as DSPy does, as the content of one
//! wrapping `<dspy_root>` element, into ElementTree's model: each element has
//! a tag, attributes, `text` (before its first child) and `tail` (after its
//! end tag). Line ends become `\n`, entities and character references are
//! decoded, CDATA is text, comments and processing instructions are dropped.
//! What expat rejects is an [`XmlError`] whose message is expat's
//! (`not well-formed (invalid token): line 1, column 22`), with the line
//! (1-based) and column (0-based, in characters) counted on the wrapped text,
//! as Python reports them.
//!
//! [`to_string`] is `ET.tostring(element, encoding="unicode")`.
//!
//! Elements nest at most [`MAX_NESTING`] deep (expat has no such limit; a
//! deeper reply is refused with `elements nested too deeply`, so a hostile
//! reply cannot exhaust the stack).
//!
//! Namespaces: a prefixed name must have its prefix declared (`xmlns:p`),
//! else expat's `unbound prefix` error; a declared one is read as
//! `{uri}local`, like ElementTree, and `xmlns` attributes are dropped.

use std::fmt;

/// The wrapper DSPy puts around the reply before parsing it.
const ROOT: &str = "dspy_root";

/// One element, as ElementTree holds it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Element {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub tail: String,
    pub children: Vec<Element>,
}

impl Element {
    /// An attribute's value.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Expat's complaint and where (in the wrapped text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct XmlError {
    message: &'static str,
    line: usize,
    column: usize,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}, column {}", self.message, self.line, self.column)
    }
}

/// The deepest element nesting read (the wrapper counts as one).
pub(crate) const MAX_NESTING: usize = 256;

const INVALID: &str = "not well-formed (invalid token)";

/// `ET.fromstring("<dspy_root>" + text + "</dspy_root>")`: the root element.
pub(crate) fn parse_root(text: &str) -> Result<Element, XmlError> {
    let wrapped: Vec<char> = format!("<{ROOT}>{text}</{ROOT}>").chars().collect();
    let mut reader = Reader { s: &wrapped, pos: 0, namespaces: Vec::new() };
    reader.document()
}

/// `ET.tostring(element, encoding="unicode")` (the element and its tail).
pub(crate) fn to_string(element: &Element) -> String {
    let mut out = String::new();
    write_element(&mut out, element);
    out
}

fn write_element(out: &mut String, e: &Element) {
    out.push('<');
    out.push_str(&e.tag);
    for (k, v) in &e.attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_attr(out, v);
        out.push('"');
    }
    if e.text.is_empty() && e.children.is_empty() {
        out.push_str(" />");
    } else {
        out.push('>');
        escape_text(out, &e.text);
        for child in &e.children {
            write_element(out, child);
        }
        out.push_str("</");
        out.push_str(&e.tag);
        out.push('>');
    }
    escape_text(out, &e.tail);
}

/// ElementTree's `_escape_cdata`.
fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// ElementTree's `_escape_attrib`.
fn escape_attr(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#09;"),
            c => out.push(c),
        }
    }
}

/// XML's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_name_start(c: char) -> bool {
    c == '_' || c == ':' || c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || c.is_ascii_digit()
        || c == '-'
        || c == '.'
        || c == '\u{B7}'
        || (!c.is_ascii() && c.is_alphanumeric())
}

/// A start tag read: (name as written, attributes as written, self-closing, where it began).
struct StartTag {
    name: String,
    attrs: Vec<(String, String)>,
    empty: bool,
    at: usize,
}

struct Reader<'a> {
    s: &'a [char],
    pos: usize,
    /// In-scope namespace declarations, innermost last: (prefix, uri), `""` the default.
    namespaces: Vec<Vec<(String, String)>>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i).copied()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars().enumerate().all(|(i, c)| self.at(self.pos + i) == Some(c))
    }

    /// An error at char index `at`: expat's line (1-based) and column (0-based).
    fn error(&self, message: &'static str, at: usize) -> XmlError {
        let mut line = 1;
        let mut column = 0;
        let mut i = 0;
        while i < at.min(self.s.len()) {
            match self.s[i] {
                '\n' => {
                    line += 1;
                    column = 0;
                }
                '\r' => {
                    line += 1;
                    column = 0;
                    if self.at(i + 1) == Some('\n') && i + 1 < at {
                        i += 1;
                    }
                }
                _ => column += 1,
            }
            i += 1;
        }
        XmlError { message, line, column }
    }

    fn invalid(&self, at: usize) -> XmlError {
        self.error(INVALID, at)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn name(&mut self) -> Result<String, XmlError> {
        match self.peek() {
            Some(c) if is_name_start(c) => {}
            _ => return Err(self.invalid(self.pos)),
        }
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        Ok(self.s[start..self.pos].iter().collect())
    }

    /// The whole wrapped document: the root element, then nothing but space.
    fn document(&mut self) -> Result<Element, XmlError> {
        let root = self.element()?;
        self.skip_space();
        if self.pos < self.s.len() {
            // Markup or text after the root element.
            if self.peek() == Some('<') && self.at(self.pos + 1).is_some_and(is_name_start) {
                return Err(self.error("junk after document element", self.pos));
            }
            let at = if self.starts_with("</") {
                self.pos + 1
            } else {
                (self.pos..self.s.len()).find(|&i| self.s[i] == '<').unwrap_or(self.s.len())
            };
            return Err(self.invalid(at));
        }
        Ok(root)
    }

    /// An element starting at `<` (markup other than a start tag is the caller's).
    fn element(&mut self) -> Result<Element, XmlError> {
        if self.namespaces.len() >= MAX_NESTING {
            return Err(self.error("elements nested too deeply", self.pos));
        }
        let start = self.start_tag()?;
        let mut declared = Vec::new();
        let mut attrs = Vec::new();
        for (k, v) in start.attrs {
            if k == "xmlns" {
                declared.push((String::new(), v));
            } else if let Some(prefix) = k.strip_prefix("xmlns:") {
                declared.push((prefix.to_string(), v));
            } else {
                attrs.push((k, v));
            }
        }
        self.namespaces.push(declared);
        let resolved = self.resolve(&start.name, true, start.at)?;
        let mut element = Element { tag: resolved, ..Element::default() };
        for (k, v) in attrs {
            element.attrs.push((self.resolve(&k, false, start.at)?, v));
        }
        if !start.empty {
            self.content(&mut element)?;
            self.end_tag(&start.name)?;
        }
        self.namespaces.pop();
        Ok(element)
    }

    /// `prefix:local` → `{uri}local`; unprefixed names take the default
    /// namespace (elements only).
    fn resolve(&self, name: &str, element: bool, at: usize) -> Result<String, XmlError> {
        let lookup = |prefix: &str| {
            self.namespaces.iter().rev().flat_map(|scope| scope.iter()).find(|(p, _)| p == prefix).map(|(_, u)| u)
        };
        match name.split_once(':') {
            Some(("xml", local)) => Ok(format!("{{http://www.w3.org/XML/1998/namespace}}{local}")),
            Some((prefix, local)) => match lookup(prefix) {
                Some(uri) => Ok(format!("{{{uri}}}{local}")),
                None => Err(self.error("unbound prefix", at)),
            },
            None if element => match lookup("") {
                Some(uri) if !uri.is_empty() => Ok(format!("{{{uri}}}{name}")),
                _ => Ok(name.to_string()),
            },
            None => Ok(name.to_string()),
        }
    }

    fn start_tag(&mut self) -> Result<StartTag, XmlError> {
        let at = self.pos;
        self.pos += 1; // '<'
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let before = self.pos;
            self.skip_space();
            match self.peek() {
                Some('>') => {
                    self.pos += 1;
                    return Ok(StartTag { name, attrs, empty: false, at });
                }
                Some('/') => {
                    self.pos += 1;
                    if self.peek() != Some('>') {
                        return Err(self.invalid(self.pos));
                    }
                    self.pos += 1;
                    return Ok(StartTag { name, attrs, empty: true, at });
                }
                None => return Err(self.error("unclosed token", at)),
                Some(_) if self.pos == before => return Err(self.invalid(self.pos)),
                Some(_) => {}
            }
            let attr_at = self.pos;
            let key = self.name()?;
            self.skip_space();
            if self.peek() != Some('=') {
                return Err(self.invalid(self.pos));
            }
            self.pos += 1;
            self.skip_space();
            let value = self.attr_value(at)?;
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(self.error("duplicate attribute", attr_at));
            }
            attrs.push((key, value));
        }
    }

    fn attr_value(&mut self, tag_at: usize) -> Result<String, XmlError> {
        let quote = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            None => return Err(self.error("unclosed token", tag_at)),
            Some(_) => return Err(self.invalid(self.pos)),
        };
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unclosed token", tag_at)),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(value);
                }
                Some('<') => return Err(self.invalid(self.pos)),
                Some('&') => value.push_str(&self.reference()?),
                Some(c) if !is_xml_char(c) => return Err(self.invalid(self.pos)),
                Some('\r') => {
                    self.pos += 1;
                    if self.peek() == Some('\n') {
                        self.pos += 1;
                    }
                    value.push(' ');
                }
                Some(c) => {
                    self.pos += 1;
                    value.push(if is_space(c) { ' ' } else { c });
                }
            }
        }
    }

    /// `&name;` or `&#N;` / `&#xH;` at the cursor, decoded.
    fn reference(&mut self) -> Result<String, XmlError> {
        let at = self.pos;
        self.pos += 1;
        if self.peek() == Some('#') {
            self.pos += 1;
            let hex = self.peek() == Some('x');
            if hex {
                self.pos += 1;
            }
            let digits_at = self.pos;
            while self.peek().is_some_and(|c| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() }) {
                self.pos += 1;
            }
            if self.pos == digits_at || self.peek() != Some(';') {
                return Err(self.invalid(self.pos));
            }
            let digits: String = self.s[digits_at..self.pos].iter().collect();
            self.pos += 1;
            let code = u32::from_str_radix(&digits, if hex { 16 } else { 10 }).ok();
            return match code.and_then(char::from_u32).filter(|c| is_xml_char(*c)) {
                Some(c) => Ok(c.to_string()),
                None => Err(self.error("reference to invalid character number", at)),
            };
        }
        let name = self.name()?;
        if self.peek() != Some(';') {
            return Err(self.invalid(self.pos));
        }
        self.pos += 1;
        match name.as_str() {
            "amp" => Ok("&".into()),
            "lt" => Ok("<".into()),
            "gt" => Ok(">".into()),
            "quot" => Ok("\"".into()),
            "apos" => Ok("'".into()),
            _ => Err(self.error("undefined entity", at)),
        }
    }

    /// Text and children up to the end tag (the cursor is left on `</`).
    fn content(&mut self, parent: &mut Element) -> Result<(), XmlError> {
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                // Only reachable when the wrapper's end tag was eaten (by a
                // comment or CDATA it opened): expat's "unclosed token".
                return Err(self.error("no element found", self.pos));
            };
            match c {
                '<' if self.starts_with("</") => {
                    flush(parent, &mut text);
                    return Ok(());
                }
                '<' if self.starts_with("<!--") => self.comment()?,
                '<' if self.starts_with("<![CDATA[") => {
                    let at = self.pos;
                    self.pos += 9;
                    loop {
                        if self.starts_with("]]>") {
                            self.pos += 3;
                            break;
                        }
                        match self.peek() {
                            None => return Err(self.error("unclosed CDATA section", at)),
                            Some(c) if !is_xml_char(c) => return Err(self.invalid(self.pos)),
                            Some(c) => {
                                self.pos += 1;
                                push_normalized(&mut text, c);
                                if c == '\r' && self.peek() == Some('\n') {
                                    self.pos += 1;
                                }
                            }
                        }
                    }
                }
                '<' if self.starts_with("<?") => self.processing_instruction()?,
                '<' if self.starts_with("<!") => return Err(self.invalid(self.pos + 2)),
                '<' => {
                    let child = self.element()?;
                    flush(parent, &mut text);
                    parent.children.push(child);
                }
                '&' => text.push_str(&self.reference()?),
                ']' if self.starts_with("]]>") => return Err(self.invalid(self.pos + 2)),
                c if !is_xml_char(c) => return Err(self.invalid(self.pos)),
                c => {
                    self.pos += 1;
                    push_normalized(&mut text, c);
                    if c == '\r' && self.peek() == Some('\n') {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    fn comment(&mut self) -> Result<(), XmlError> {
        let at = self.pos;
        self.pos += 4;
        loop {
            if self.starts_with("--") {
                if self.at(self.pos + 2) == Some('>') {
                    self.pos += 3;
                    return Ok(());
                }
                return Err(self.invalid(self.pos + 2));
            }
            match self.peek() {
                None => return Err(self.error("unclosed token", at)),
                Some(c) if !is_xml_char(c) => return Err(self.invalid(self.pos)),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn processing_instruction(&mut self) -> Result<(), XmlError> {
        let at = self.pos;
        self.pos += 2;
        let target = self.name()?;
        if target == "xml" {
            return Err(self.error("XML or text declaration not at start of entity", at));
        }
        loop {
            if self.starts_with("?>") {
                self.pos += 2;
                return Ok(());
            }
            match self.peek() {
                None => return Err(self.error("unclosed token", at)),
                Some(c) if !is_xml_char(c) => return Err(self.invalid(self.pos)),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn end_tag(&mut self, open: &str) -> Result<(), XmlError> {
        self.pos += 2; // "</"
        let name_at = self.pos;
        let name = self.name()?;
        if name != open {
            return Err(self.error("mismatched tag", name_at));
        }
        self.skip_space();
        if self.peek() != Some('>') {
            return Err(self.invalid(self.pos));
        }
        self.pos += 1;
        Ok(())
    }
}

/// Push `c` with XML's line-end normalization (`\r\n` and `\r` are `\n`).
fn push_normalized(text: &mut String, c: char) {
    text.push(if c == '\r' { '\n' } else { c });
}

/// Put the text read so far where ElementTree keeps it: the parent's `text`
/// before its first child, else the last child's `tail`.
fn flush(parent: &mut Element, text: &mut String) {
    if text.is_empty() {
        return;
    }
    match parent.children.last_mut() {
        Some(last) => last.tail.push_str(text),
        None => parent.text.push_str(text),
    }
    text.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_root(text).expect_err("should not parse").to_string()
    }

    /// Expat's messages and positions, as Python 3.11's ElementTree reports them.
    #[test]
    fn errors_match_expat() {
        let cases = [
            ("éé<a>x & y</a>", "not well-formed (invalid token): line 1, column 19"),
            ("é&nbsp;", "undefined entity: line 1, column 12"),
            ("<a>x</b>", "mismatched tag: line 1, column 17"),
            ("<a>", "mismatched tag: line 1, column 16"),
            ("<a x=1>", "not well-formed (invalid token): line 1, column 16"),
            ("<a x='1' x='2'/>", "duplicate attribute: line 1, column 20"),
            ("x ]]> y", "not well-formed (invalid token): line 1, column 15"),
            ("<!-- c", "unclosed token: line 1, column 11"),
            ("<?xml version='1.0'?><a/>", "XML or text declaration not at start of entity: line 1, column 11"),
            ("<!DOCTYPE x>", "not well-formed (invalid token): line 1, column 13"),
            ("&#0;", "reference to invalid character number: line 1, column 11"),
            ("&#xD800;", "reference to invalid character number: line 1, column 11"),
            ("&amp", "not well-formed (invalid token): line 1, column 15"),
            ("& ", "not well-formed (invalid token): line 1, column 12"),
            ("&;", "not well-formed (invalid token): line 1, column 12"),
            ("<a:b>x</a:b>", "unbound prefix: line 1, column 11"),
            ("<1a>", "not well-formed (invalid token): line 1, column 12"),
            ("<a\x01>", "not well-formed (invalid token): line 1, column 13"),
            ("x\x01y", "not well-formed (invalid token): line 1, column 12"),
            ("</dspy_root> x", "not well-formed (invalid token): line 1, column 25"),
            ("</dspy_root>", "not well-formed (invalid token): line 1, column 24"),
            ("<a>\n", "mismatched tag: line 2, column 2"),
            ("< a>", "not well-formed (invalid token): line 1, column 12"),
            ("<a/ >", "not well-formed (invalid token): line 1, column 14"),
            ("<a / >", "not well-formed (invalid token): line 1, column 15"),
            ("<a b>", "not well-formed (invalid token): line 1, column 15"),
            ("<a b=>", "not well-formed (invalid token): line 1, column 16"),
            ("<a b='<'>", "not well-formed (invalid token): line 1, column 17"),
            ("<a b='&amp;&#10;'>", "mismatched tag: line 1, column 31"),
            ("x \u{fffe}", "not well-formed (invalid token): line 1, column 13"),
            ("<>", "not well-formed (invalid token): line 1, column 12"),
            ("</>", "not well-formed (invalid token): line 1, column 13"),
            ("<a></a b>", "not well-formed (invalid token): line 1, column 18"),
            ("é<a>", "mismatched tag: line 1, column 17"),
            (
                "<answer>x</answer>\n<year>1</year>\n<tags>a < b</tags>",
                "not well-formed (invalid token): line 3, column 9",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), want, "{text:?}");
        }
    }

    #[test]
    fn tree_like_element_tree() {
        let root =
            parse_root("a\r\nb\rc<!-- c --><x k='1\n2'>t<![CDATA[<y>]]><b/>u &#65;&#x42;</x>v<?pi x?>w").unwrap();
        assert_eq!(root.text, "a\nb\nc");
        let x = &root.children[0];
        assert_eq!((x.tag.as_str(), x.attr("k"), x.text.as_str(), x.tail.as_str()), ("x", Some("1 2"), "t<y>", "vw"));
        assert_eq!(x.children[0].tail, "u AB");
        assert_eq!(to_string(x), "<x k=\"1 2\">t&lt;y&gt;<b />u AB</x>vw");
        let ns = parse_root("<a xmlns:p='u'><p:b>1</p:b></a>").unwrap();
        assert_eq!(ns.children[0].children[0].tag, "{u}b");
        assert!(ns.children[0].attrs.is_empty());
        let named = parse_root("<aé>q</aé>").unwrap();
        assert_eq!(named.children[0].tag, "aé");
    }
}
