//! The wire format: the Lua script, the storage keys of one request, the
//! `EVALSHA` command that decides it, and the reply turned into a
//! [`Decision`].

use std::time::Duration;

use ::redis::{Cmd, Value};

use crate::gcra::Gcra;
use crate::store::{Decision, PolicyCheck, PolicyOutcome, StoreError};

/// The Lua script deciding one request (see `gcra.lua`).
pub(super) const SCRIPT: &str = include_str!("gcra.lua");

/// Periods and windows are passed to Lua as doubles and come back as 64-bit
/// integers; clamping them here keeps absurd quotas (centuries) in range.
const MAX_LUA_NANOS: u64 = 1 << 62;

/// The prefixed storage keys of one request, in one string.
pub(super) struct KeyList {
    text: String,
    ends: Vec<usize>,
}

impl KeyList {
    pub(super) fn new(prefix: &str, checks: &[PolicyCheck<'_>]) -> Self {
        let mut text = String::with_capacity(checks.len() * (prefix.len() + 32));
        let mut ends = Vec::with_capacity(checks.len());
        for check in checks {
            text.push_str(prefix);
            check.write_storage_key(&mut text);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = &self.text[start..end];
            start = end;
            key
        })
    }
}

pub(super) fn outcome_from_nanos(allowed: bool, step: crate::gcra::GcraStep) -> PolicyOutcome {
    PolicyOutcome {
        allowed,
        remaining: step.remaining,
        reset_after: Duration::from_nanos(step.reset_after),
        retry_after: Duration::from_nanos(step.retry_after),
    }
}

/// Turns the script's reply into a decision.
pub(super) fn parse_reply(value: Value, checks: usize) -> Result<Decision, StoreError> {
    let bad = || StoreError::new("Redis answered the rate limit script with an unexpected reply");
    let Value::Array(items) = value else {
        return Err(bad());
    };
    if items.len() != 1 + 4 * checks {
        return Err(bad());
    }
    let int = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let mut decision = Decision::new();
    for chunk in items[1..].chunks_exact(4) {
        decision.push(PolicyOutcome {
            allowed: int(&chunk[0])? == 1,
            remaining: u32::try_from(int(&chunk[1])?).unwrap_or(u32::MAX),
            reset_after: Duration::from_nanos(int(&chunk[2])?),
            retry_after: Duration::from_nanos(int(&chunk[3])?),
        });
    }
    Ok(decision)
}

/// The `EVALSHA` deciding `checks`, whose prefixed keys are `keys`.
pub(super) fn decision_command(sha: &str, keys: &KeyList, checks: &[PolicyCheck<'_>]) -> Cmd {
    let mut cmd = ::redis::cmd("EVALSHA");
    cmd.arg(sha).arg(checks.len());
    for key in keys.iter() {
        cmd.arg(key);
    }
    cmd.arg(""); // the script reads the server's TIME
    for check in checks {
        let gcra: &Gcra = check.policy().gcra();
        cmd.arg(gcra.period().min(MAX_LUA_NANOS))
            .arg(gcra.window().min(MAX_LUA_NANOS))
            .arg(gcra.burst());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key;
    use crate::policy::Policy;
    use crate::store::PolicyOutcome;

    #[test]
    fn replies_are_validated() {
        let ok = Value::Array(vec![
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Int(5),
            Value::Int(7),
        ]);
        let d = parse_reply(ok, 1).unwrap();
        assert_eq!(
            d.outcomes()[0],
            PolicyOutcome {
                allowed: false,
                remaining: 0,
                reset_after: Duration::from_nanos(5),
                retry_after: Duration::from_nanos(7),
            }
        );
        assert!(parse_reply(Value::Array(vec![Value::Int(1)]), 1).is_err());
        assert!(parse_reply(Value::Nil, 1).is_err());
        let negative = Value::Array(vec![
            Value::Int(1),
            Value::Int(1),
            Value::Int(-1),
            Value::Int(0),
            Value::Int(0),
        ]);
        assert!(parse_reply(negative, 1).is_err());
    }

    #[test]
    fn key_list_holds_prefixed_storage_keys() {
        let a = Policy::new("a", crate::Quota::per_second(std::num::NonZeroU32::MIN));
        let b = Policy::new("b", crate::Quota::per_second(std::num::NonZeroU32::MIN));
        let user = Key::user("u:1");
        let ip = Key::ip("10.0.0.1".parse().unwrap(), 64);
        let keys = KeyList::new(
            "p:",
            &[PolicyCheck::new(&a, &user), PolicyCheck::new(&b, &ip)],
        );
        let keys: Vec<&str> = keys.iter().collect();
        let user_form = format!("p:a:{}", user.to_storage_string());
        assert_eq!(keys, [user_form.as_str(), "p:b:ip:10.0.0.1"]);
        assert!(!keys[0].contains("u:1"), "user ids are hashed: {}", keys[0]);
    }
}
