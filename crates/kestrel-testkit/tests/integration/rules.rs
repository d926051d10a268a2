//! `RuleLm::lm_kwargs`: the options DSPy would record for a request.

use kestrel_lm::{CallConfig, LmRequest};
use kestrel_testkit::RuleLm;
use serde_json::json;

#[test]
fn n_is_recorded_when_set_even_to_one() {
    let config = CallConfig { n: Some(1), temperature: Some(1.0), ..CallConfig::default() };
    let request = LmRequest::new(Vec::new()).with_config(&config);
    assert_eq!(serde_json::Value::Object(RuleLm::lm_kwargs(&request)), json!({"n": 1, "temperature": 1.0}));
}

#[test]
fn n_is_left_out_when_not_set() {
    let config = CallConfig { rollout_id: Some(7), temperature: Some(1.0), ..CallConfig::default() };
    let request = LmRequest::new(Vec::new()).with_config(&config);
    assert_eq!(serde_json::Value::Object(RuleLm::lm_kwargs(&request)), json!({"rollout_id": 7, "temperature": 1.0}));
    let three = LmRequest::new(Vec::new()).with_config(&CallConfig { n: Some(3), ..CallConfig::default() });
    assert_eq!(serde_json::Value::Object(RuleLm::lm_kwargs(&three)), json!({"n": 3}));
}
