//! Knowledge articles: the lifecycle of an article's versions (draft → in review → published →
//! retired), who may review, what an edit does to an article with a live version, and which
//! language a reader is shown.

use crate::ticket::string_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The status of one version of an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    InReview,
    Published,
    /// Taken out of use by a reviewer.
    Retired,
    /// Was published and has been replaced by a newer approved version.
    Superseded,
}
string_enum!(VersionStatus {
    Draft => "draft",
    InReview => "in_review",
    Published => "published",
    Retired => "retired",
    Superseded => "superseded",
});

/// What can be done to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// The author (or any writer) asks for review.
    Submit,
    /// A reviewer publishes the version.
    Approve,
    /// A reviewer returns it to draft with a comment.
    SendBack,
    /// A reviewer takes the published version out of use.
    Retire,
}
string_enum!(ReviewAction {
    Submit => "submit",
    Approve => "approve",
    SendBack => "send_back",
    Retire => "retire",
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeError {
    #[error("a {from} version cannot be sent to {action}")]
    NotAllowed {
        from: VersionStatus,
        action: ReviewAction,
    },
    #[error("the author of a version cannot review it")]
    OwnReview,
    #[error("a comment is required")]
    CommentRequired,
}

impl ReviewAction {
    /// Whether the action needs a reviewer (ReviewKnowledge).
    pub fn needs_reviewer(self) -> bool {
        !matches!(self, ReviewAction::Submit)
    }
}

impl VersionStatus {
    /// The actions a version in this status accepts.
    pub fn actions(self) -> &'static [ReviewAction] {
        match self {
            VersionStatus::Draft => &[ReviewAction::Submit],
            VersionStatus::InReview => &[ReviewAction::Approve, ReviewAction::SendBack],
            VersionStatus::Published => &[ReviewAction::Retire],
            VersionStatus::Retired | VersionStatus::Superseded => &[],
        }
    }

    /// The status after `action`; the reviewer must not be the version's author for approve
    /// and send back, and sending back needs a comment.
    pub fn apply(
        self,
        action: ReviewAction,
        by_author: bool,
        comment: &str,
    ) -> Result<VersionStatus, KnowledgeError> {
        if !self.actions().contains(&action) {
            return Err(KnowledgeError::NotAllowed { from: self, action });
        }
        if matches!(action, ReviewAction::Approve | ReviewAction::SendBack) && by_author {
            return Err(KnowledgeError::OwnReview);
        }
        if action == ReviewAction::SendBack && comment.trim().is_empty() {
            return Err(KnowledgeError::CommentRequired);
        }
        Ok(match action {
            ReviewAction::Submit => VersionStatus::InReview,
            ReviewAction::Approve => VersionStatus::Published,
            ReviewAction::SendBack => VersionStatus::Draft,
            ReviewAction::Retire => VersionStatus::Retired,
        })
    }
}

/// What an edit of an article does, given its newest version's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    /// The newest version is a draft: it is changed in place.
    ChangeDraft,
    /// The newest version is live or retired: the edit becomes a new draft version and the
    /// published one stays live until the new one is approved.
    NewDraft,
    /// The newest version waits for review: it must be sent back before it is edited.
    Refused,
}

pub fn edit_outcome(latest: VersionStatus) -> EditOutcome {
    match latest {
        VersionStatus::Draft => EditOutcome::ChangeDraft,
        VersionStatus::InReview => EditOutcome::Refused,
        VersionStatus::Published | VersionStatus::Retired | VersionStatus::Superseded => {
            EditOutcome::NewDraft
        }
    }
}

/// The status an article shows: published while any version is live, otherwise its newest
/// version's status.
pub fn article_status(has_published: bool, latest: VersionStatus) -> VersionStatus {
    if has_published {
        VersionStatus::Published
    } else {
        latest
    }
}

/// Who may read an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Staff only.
    Internal,
    /// Staff and requesters (the portal).
    Requesters,
}
string_enum!(Audience {
    Internal => "internal",
    Requesters => "requesters",
});

/// The language a reader is shown: their own when the article has it, otherwise the other.
/// Returns true for Chinese.
pub fn show_chinese(reader_prefers_chinese: bool, has_zh: bool, has_en: bool) -> bool {
    if reader_prefers_chinese {
        has_zh || !has_en
    } else {
        !has_en && has_zh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_draft_goes_through_review_to_publishing() {
        let s = VersionStatus::Draft
            .apply(ReviewAction::Submit, true, "")
            .unwrap();
        assert_eq!(s, VersionStatus::InReview);
        let s = s.apply(ReviewAction::Approve, false, "ok").unwrap();
        assert_eq!(s, VersionStatus::Published);
        let s = s.apply(ReviewAction::Retire, false, "").unwrap();
        assert_eq!(s, VersionStatus::Retired);
    }

    #[test]
    fn authors_never_approve_their_own_version() {
        assert_eq!(
            VersionStatus::InReview.apply(ReviewAction::Approve, true, "fine"),
            Err(KnowledgeError::OwnReview)
        );
        assert_eq!(
            VersionStatus::InReview.apply(ReviewAction::SendBack, true, "no"),
            Err(KnowledgeError::OwnReview)
        );
    }

    #[test]
    fn sending_back_needs_a_comment() {
        assert_eq!(
            VersionStatus::InReview.apply(ReviewAction::SendBack, false, "  "),
            Err(KnowledgeError::CommentRequired)
        );
        assert_eq!(
            VersionStatus::InReview.apply(ReviewAction::SendBack, false, "add steps"),
            Ok(VersionStatus::Draft)
        );
    }

    #[test]
    fn drafts_cannot_be_published_without_review() {
        assert!(matches!(
            VersionStatus::Draft.apply(ReviewAction::Approve, false, ""),
            Err(KnowledgeError::NotAllowed { .. })
        ));
    }

    #[test]
    fn editing_a_live_article_makes_a_new_draft() {
        assert_eq!(
            edit_outcome(VersionStatus::Published),
            EditOutcome::NewDraft
        );
        assert_eq!(edit_outcome(VersionStatus::Draft), EditOutcome::ChangeDraft);
        assert_eq!(edit_outcome(VersionStatus::InReview), EditOutcome::Refused);
        assert_eq!(
            article_status(true, VersionStatus::Draft),
            VersionStatus::Published
        );
        assert_eq!(
            article_status(false, VersionStatus::InReview),
            VersionStatus::InReview
        );
    }

    #[test]
    fn readers_get_their_language_or_the_other() {
        assert!(show_chinese(true, true, true));
        assert!(!show_chinese(false, true, true));
        assert!(show_chinese(false, true, false));
        assert!(!show_chinese(true, false, true));
    }

    fn any_status() -> impl Strategy<Value = VersionStatus> {
        prop::sample::select(VersionStatus::ALL.to_vec())
    }

    fn any_action() -> impl Strategy<Value = ReviewAction> {
        prop::sample::select(ReviewAction::ALL.to_vec())
    }

    proptest! {
        /// Nothing ever reaches published except by a reviewer's approval of a version in
        /// review, and the ended statuses accept nothing.
        #[test]
        fn only_approval_publishes(s in any_status(), a in any_action(), author in any::<bool>()) {
            if let Ok(next) = s.apply(a, author, "comment") {
                if next == VersionStatus::Published {
                    prop_assert_eq!(s, VersionStatus::InReview);
                    prop_assert_eq!(a, ReviewAction::Approve);
                    prop_assert!(!author);
                }
                prop_assert!(s != VersionStatus::Retired && s != VersionStatus::Superseded);
            }
        }

        #[test]
        fn statuses_round_trip(s in any_status()) {
            prop_assert_eq!(s.as_str().parse::<VersionStatus>(), Ok(s));
        }
    }
}
