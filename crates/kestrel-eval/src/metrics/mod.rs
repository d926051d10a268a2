//! DSPy's metrics.
//!
//! | Kestrel | DSPy |
//! |---|---|
//! | [`normalize_text`] | `dspy.evaluate.normalize_text` |
//! | [`exact_match`], [`exact_match_any`] | `em_score`, `EM` |
//! | [`f1_score`], [`f1_any`] | `f1_score`, `F1` |
//! | [`hotpot_f1_score`], [`hotpot_f1_any`] | `hotpot_f1_score`, `HotPotF1` |
//! | [`precision_score`] | `precision_score` |
//! | [`passage_match`], [`dpr_tokens`] | `_passage_match`, `DPR_normalize` |
//! | [`answer_exact_match`], [`AnswerExactMatch`] | `dspy.evaluate.answer_exact_match` |
//! | [`answer_passage_match`], [`AnswerPassageMatch`] | `dspy.evaluate.answer_passage_match` |
//! | [`SemanticF1`] | `dspy.evaluate.SemanticF1` |

mod answer;
mod semantic;
mod text;

pub use answer::{
    AnswerExactMatch, AnswerPassageMatch, answer_exact_match, answer_exact_match_metric, answer_passage_match,
    answer_passage_match_metric,
};
pub use semantic::{DEFAULT_SEMANTIC_THRESHOLD, SemanticF1, clamped_f1, semantic_recall_precision_signature};
pub use text::{
    dpr_tokens, exact_match, exact_match_any, f1_any, f1_score, hotpot_f1_any, hotpot_f1_score, normalize_text,
    passage_match, precision_score,
};
