//! A word-level diff of two texts (an instruction before and after a
//! compile): the longest common subsequence of their word and whitespace
//! tokens. In-house rather than a crate: instructions are a few hundred
//! words, an O(n·m) table is enough, and it keeps the dependency tree as is.

/// One run of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Text in both.
    Same(String),
    /// Text only in the original.
    Removed(String),
    /// Text only in the new text.
    Added(String),
}

/// Above this many table cells (tokens × tokens) the diff gives up on
/// alignment and reports the whole text as replaced.
const MAX_CELLS: usize = 4_000_000;

/// Words, each with the whitespace that follows it (leading whitespace is a
/// token of its own), in order; concatenated they are `text`.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        // A word starts after whitespace: close the previous token there.
        if !space && prev_space && i > start {
            out.push(&text[start..i]);
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Folds a one-word run kept between two changes of at least two words each
/// (removed plus added) into one change — a rewritten sentence that happens
/// to share "the" reads as one rewrite — and orders each changed region as
/// its removals, then its additions.
fn tidy(raw: Vec<Change>) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    for (k, change) in raw.iter().enumerate() {
        match change {
            Change::Removed(t) => removed.push_str(t),
            Change::Added(t) => added.push_str(t),
            Change::Same(t) => {
                let words = |t: &str| t.split_whitespace().count();
                let before = words(&removed) + words(&added);
                let after: usize = raw[k + 1..]
                    .iter()
                    .take_while(|c| !matches!(c, Change::Same(_)))
                    .map(|c| match c {
                        Change::Removed(t) | Change::Added(t) | Change::Same(t) => words(t),
                    })
                    .sum();
                if before >= 2 && after >= 2 && words(t) <= 1 {
                    removed.push_str(t);
                    added.push_str(t);
                    continue;
                }
                flush(&mut out, &mut removed, &mut added);
                out.push(Change::Same(t.clone()));
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
    out
}

fn flush(out: &mut Vec<Change>, removed: &mut String, added: &mut String) {
    if !removed.is_empty() {
        out.push(Change::Removed(std::mem::take(removed)));
    }
    if !added.is_empty() {
        out.push(Change::Added(std::mem::take(added)));
    }
}

/// The changes that turn `old` into `new`, adjacent runs of one kind merged.
pub(crate) fn diff_words(old: &str, new: &str) -> Vec<Change> {
    let a = tokens(old);
    let b = tokens(new);
    let mut out: Vec<Change> = Vec::new();
    let mut push = |change: Change| match (out.last_mut(), change) {
        (Some(Change::Same(last)), Change::Same(t))
        | (Some(Change::Removed(last)), Change::Removed(t))
        | (Some(Change::Added(last)), Change::Added(t)) => last.push_str(&t),
        (_, change) => out.push(change),
    };
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        if !old.is_empty() {
            push(Change::Removed(old.to_string()));
        }
        if !new.is_empty() {
            push(Change::Added(new.to_string()));
        }
        return tidy(out);
    }
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut lcs = vec![0usize; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            push(Change::Same(a[i].to_string()));
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            push(Change::Removed(a[i].to_string()));
            i += 1;
        } else {
            push(Change::Added(b[j].to_string()));
            j += 1;
        }
    }
    for t in &a[i..] {
        push(Change::Removed((*t).to_string()));
    }
    for t in &b[j..] {
        push(Change::Added((*t).to_string()));
    }
    tidy(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(t: &str) -> Change {
        Change::Same(t.into())
    }

    #[test]
    fn words_in_both_texts_are_kept_and_changes_marked() {
        let diff = diff_words("Answer the question briefly.", "Answer the math question carefully.");
        assert_eq!(
            diff,
            vec![
                same("Answer the "),
                Change::Added("math ".into()),
                same("question "),
                Change::Removed("briefly.".into()),
                Change::Added("carefully.".into()),
            ]
        );
    }

    #[test]
    fn a_rewrite_sharing_one_word_reads_as_one_change() {
        let diff =
            diff_words("Given the fields `question`, produce the fields `answer`.", "Add the numbers carefully.");
        assert_eq!(
            diff,
            vec![
                Change::Removed("Given the fields `question`, produce the fields `answer`.".into()),
                Change::Added("Add the numbers carefully.".into()),
            ]
        );
    }

    #[test]
    fn both_sides_rebuild_from_the_diff() {
        let (old, new) = ("Given the fields `question`, produce `answer`.", "Think, then produce `answer`. Be brief.");
        let diff = diff_words(old, new);
        let side = |keep_removed: bool| -> String {
            diff.iter()
                .filter_map(|c| match c {
                    Change::Same(t) => Some(t.as_str()),
                    Change::Removed(t) if keep_removed => Some(t.as_str()),
                    Change::Added(t) if !keep_removed => Some(t.as_str()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(side(true), old);
        assert_eq!(side(false), new);
    }

    #[test]
    fn identical_and_empty_texts() {
        assert_eq!(diff_words("a b", "a b"), vec![same("a b")]);
        assert_eq!(diff_words("", "new"), vec![Change::Added("new".into())]);
        assert!(diff_words("", "").is_empty());
    }
}
