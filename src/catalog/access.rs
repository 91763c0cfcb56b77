//! The sensitivity model: how sensitive a dataset is, and the access-control terms it
//! carries (a caller sees a dataset when its own terms share one of them).

use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Sensitivity {
    pub fn parse(value: &str) -> Option<Sensitivity> {
        match value.trim().to_ascii_lowercase().as_str() {
            "public" => Some(Sensitivity::Public),
            "internal" => Some(Sensitivity::Internal),
            "confidential" => Some(Sensitivity::Confidential),
            "restricted" => Some(Sensitivity::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }
}

/// The access-control terms a dataset carries in the index: a caller sees the dataset when
/// the caller's [`Visibility::terms`] share at least one of them.
pub fn dataset_acl_terms(sensitivity: Sensitivity, allowed_groups: &[String]) -> Vec<String> {
    match sensitivity {
        Sensitivity::Public => vec!["level:public".into()],
        Sensitivity::Internal => vec!["level:internal".into()],
        Sensitivity::Confidential | Sensitivity::Restricted => allowed_groups
            .iter()
            .map(|group| format!("group:{}", group.to_ascii_lowercase()))
            .collect(),
    }
}
