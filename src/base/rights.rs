//! Collaborators and their rights: the `[collaborators]` table of
//! `base.toml`, each collaborator with every dossier (`"*"`) or a list of
//! codes.

use std::path::Path;

use super::BaseError;

/// A collaborator's rights on the dossiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rights {
    /// Every dossier (`dossiers = "*"`).
    All,
    /// The dossiers of these codes.
    Only(Vec<String>),
}

impl Rights {
    /// Whether these rights cover the dossier `code`.
    pub fn allows(&self, code: &str) -> bool {
        match self {
            Rights::All => true,
            Rights::Only(codes) => codes.iter().any(|c| c == code),
        }
    }
}

/// The collaborators of `base.toml` (at `path`, for messages), with their
/// rights: none when the table has no `[collaborators]`.
pub(super) fn parse_collaborators(
    path: &Path,
    table: &toml::Table,
) -> Result<Vec<(String, Rights)>, BaseError> {
    let Some(section) = table.get("collaborators") else {
        return Ok(Vec::new());
    };
    let bad = |user: &str| BaseError::BadRights {
        path: path.to_owned(),
        user: user.to_owned(),
    };
    let Some(section) = section.as_table() else {
        return Err(bad("*"));
    };
    let mut out = Vec::new();
    for (user, body) in section {
        let dossiers = body
            .as_table()
            .and_then(|t| t.get("dossiers"))
            .ok_or_else(|| bad(user))?;
        let rights = match dossiers {
            toml::Value::String(s) if s == "*" => Rights::All,
            toml::Value::Array(a) => Rights::Only(
                a.iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad(user)))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad(user)),
        };
        out.push((user.clone(), rights));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights() {
        let t: toml::Table =
            "[collaborators.A]\ndossiers = \"*\"\n[collaborators.B]\ndossiers = [\"X\"]"
                .parse()
                .unwrap();
        let c = parse_collaborators(Path::new("base.toml"), &t).unwrap();
        assert_eq!(c[0], ("A".into(), Rights::All));
        assert!(c[1].1.allows("X") && !c[1].1.allows("Y"));
    }
}
