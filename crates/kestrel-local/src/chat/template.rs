//! [`ChatTemplate`]: the Jinja chat template a GGUF file carries
//! (`tokenizer.chat_template`), rendered with minijinja as Hugging Face's
//! `apply_chat_template` does (`trim_blocks`, `lstrip_blocks`, `messages`,
//! `add_generation_prompt`, `bos_token` / `eos_token`, `raise_exception`,
//! `tojson`, and Python string methods such as `strip` or `startswith`).

use kestrel_core::Message;
use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use crate::LocalError;

/// The template of models whose file has none (ChatML, as SmolLM2 and Qwen
/// use).
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A parsed chat template with the special tokens it may use.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Parses a template.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, LocalError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", raise_exception);
        env.set_unknown_method_callback(python_string_methods);
        env.add_template_owned("chat", source.to_owned())
            .map_err(|error| LocalError::Template { message: describe(&error) })?;
        Ok(Self { env, bos_token: bos_token.to_owned(), eos_token: eos_token.to_owned() })
    }

    /// Renders a conversation, ending with the assistant's turn opened
    /// (`add_generation_prompt`).
    pub fn render(&self, messages: &[Message]) -> Result<String, LocalError> {
        let template =
            self.env.get_template("chat").map_err(|error| LocalError::Template { message: describe(&error) })?;
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| minijinja::context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|error| LocalError::Template { message: describe(&error) })
    }
}

fn describe(error: &Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// The Python `str` methods chat templates call.
fn python_string_methods(
    _state: &minijinja::State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let Some(s) = value.as_str() else {
        return Err(Error::from(ErrorKind::UnknownMethod));
    };
    let arg = |i: usize| args.get(i).and_then(Value::as_str);
    let chars = |i: usize| arg(i).map(|a| a.chars().collect::<Vec<char>>());
    let trimmed = |start: bool, end: bool| -> String {
        let set = chars(0);
        let pred = |c: char| set.as_ref().map_or(c.is_whitespace(), |set| set.contains(&c));
        let s = if start { s.trim_start_matches(pred) } else { s };
        let s = if end { s.trim_end_matches(pred) } else { s };
        s.to_owned()
    };
    Ok(match method {
        "strip" => Value::from(trimmed(true, true)),
        "lstrip" => Value::from(trimmed(true, false)),
        "rstrip" => Value::from(trimmed(false, true)),
        "lower" => Value::from(s.to_lowercase()),
        "upper" => Value::from(s.to_uppercase()),
        "startswith" => Value::from(arg(0).is_some_and(|p| s.starts_with(p))),
        "endswith" => Value::from(arg(0).is_some_and(|p| s.ends_with(p))),
        "split" => match arg(0) {
            Some(sep) => Value::from(s.split(sep).map(str::to_owned).collect::<Vec<_>>()),
            None => Value::from(s.split_whitespace().map(str::to_owned).collect::<Vec<_>>()),
        },
        "replace" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) => Value::from(s.replace(from, to)),
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "replace needs two strings")),
        },
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_messages_and_the_generation_prompt() {
        let template = ChatTemplate::new(CHATML_TEMPLATE, "", "<|im_end|>").unwrap();
        let text = template.render(&[Message::system("Be brief."), Message::user("Hi")]).unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn string_methods_and_raise_exception_work() {
        let source = "{% if messages[0].content.strip().startswith('x') %}{{ raise_exception('no x') }}{% endif %}{{ messages[0].content | trim }}";
        let template = ChatTemplate::new(source, "", "").unwrap();
        assert_eq!(template.render(&[Message::user("  hi ")]).unwrap(), "hi");
        assert!(matches!(template.render(&[Message::user(" xy")]), Err(LocalError::Template { .. })));
        assert!(matches!(ChatTemplate::new("{% if %}", "", ""), Err(LocalError::Template { .. })));
    }
}
