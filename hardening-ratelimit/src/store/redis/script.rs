//! The wire format: the Lua script, the storage keys of one request, the
//! `EVALSHA` command that decides it, and the reply turned into a
//! [`Decision`].

use std::time::Duration;

use ::redis::{Cmd, Value};

use crate::gcra::Gcra;
use crate::store::{Decision, PolicyCheck, PolicyOutcome, StoreError};

/// The Lua script deciding one request (`gcra_prelude.lua` + `gcra.lua`).
pub(super) const SCRIPT: &str = concat!(include_str!("gcra_prelude.lua"), include_str!("gcra.lua"));

/// The Lua script giving a request's cost back (`gcra_prelude.lua` +
/// `gcra_refund.lua`).
#[cfg(feature = "redis-cluster")]
pub(super) const REFUND_SCRIPT: &str = concat!(
    include_str!("gcra_prelude.lua"),
    include_str!("gcra_refund.lua")
);

/// Periods and windows are passed to Lua as doubles and come back as 64-bit
/// integers; clamping them here keeps absurd quotas (centuries) in range.
const MAX_LUA_NANOS: u64 = 1 << 62;

/// The prefixed storage keys of one request, in one string.
pub(super) struct KeyList {
    text: String,
    ends: Vec<usize>,
}

impl KeyList {
    /// `<prefix><policy>:<key form>`, or with `hash_tags` (on a cluster)
    /// `<prefix><policy>:{<key form>}`: the client's key form is the hash
    /// tag, so every policy keyed on one client lands in one slot.
    pub(super) fn new(prefix: &str, checks: &[PolicyCheck<'_>], hash_tags: bool) -> Self {
        let mut text = String::with_capacity(checks.len() * (prefix.len() + 34));
        let mut ends = Vec::with_capacity(checks.len());
        for check in checks {
            text.push_str(prefix);
            if hash_tags {
                text.push_str(check.policy().name());
                text.push_str(":{");
                check.key().write_storage(&mut text);
                text.push('}');
            } else {
                check.write_storage_key(&mut text);
            }
            ends.push(text.len());
        }
        Self { text, ends }
    }

    #[cfg(feature = "redis-cluster")]
    /// The indices of the keys grouped by hash tag (Redis Cluster's rule:
    /// the first `{…}` with something inside, else the whole key), in
    /// first-seen order; `None` when there is only one group. Keys with one
    /// tag share a slot, so each group can be decided by one script call.
    pub(super) fn tag_groups(&self) -> Option<Vec<Vec<usize>>> {
        let tags: Vec<&str> = self.iter().map(hash_tag).collect();
        if tags.iter().all(|t| *t == tags[0]) {
            return None;
        }
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, tag) in tags.iter().enumerate() {
            match groups.iter_mut().find(|(t, _)| t == tag) {
                Some((_, group)) => group.push(i),
                None => groups.push((tag, vec![i])),
            }
        }
        Some(groups.into_iter().map(|(_, group)| group).collect())
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

#[cfg(feature = "redis-cluster")]
/// The part of a key Redis Cluster hashes: the first `{…}` with something
/// inside, else the whole key.
pub(super) fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
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
        push_quota(&mut cmd, check);
    }
    cmd
}

#[cfg(feature = "redis-cluster")]
/// The `EVALSHA` deciding the checks at `group` (indices into `checks`
/// and `keys`), for one slot of a cluster.
pub(super) fn group_command(
    sha: &str,
    keys: &KeyList,
    checks: &[PolicyCheck<'_>],
    group: &[usize],
) -> Cmd {
    let all: Vec<&str> = keys.iter().collect();
    let mut cmd = ::redis::cmd("EVALSHA");
    cmd.arg(sha).arg(group.len());
    for &i in group {
        cmd.arg(all[i]);
    }
    cmd.arg("");
    for &i in group {
        push_quota(&mut cmd, &checks[i]);
    }
    cmd
}

#[cfg(feature = "redis-cluster")]
/// The `EVALSHA` of the refund script giving back one request on the
/// `keys` of policies with periods `periods` (nanoseconds).
pub(super) fn refund_command<'k>(
    sha: &str,
    keys: impl ExactSizeIterator<Item = &'k str>,
    periods: impl Iterator<Item = u64>,
) -> Cmd {
    let mut cmd = ::redis::cmd("EVALSHA");
    cmd.arg(sha).arg(keys.len());
    for key in keys {
        cmd.arg(key);
    }
    cmd.arg("");
    for period in periods {
        cmd.arg(period.min(MAX_LUA_NANOS));
    }
    cmd
}

fn push_quota(cmd: &mut Cmd, check: &PolicyCheck<'_>) {
    let gcra: &Gcra = check.policy().gcra();
    cmd.arg(gcra.period().min(MAX_LUA_NANOS))
        .arg(gcra.window().min(MAX_LUA_NANOS))
        .arg(gcra.burst());
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
        let checks = [PolicyCheck::new(&a, &user), PolicyCheck::new(&b, &ip)];
        let list = KeyList::new("p:", &checks, false);
        let keys: Vec<&str> = list.iter().collect();
        let user_form = format!("p:a:{}", user.to_storage_string());
        assert_eq!(keys, [user_form.as_str(), "p:b:ip:10.0.0.1"]);
        assert!(!keys[0].contains("u:1"), "user ids are hashed: {}", keys[0]);
        // without hash tags every key is its own group (a standalone Redis
        // never asks for groups)
        #[cfg(feature = "redis-cluster")]
        assert_eq!(list.tag_groups(), Some(vec![vec![0], vec![1]]));
    }

    #[cfg(feature = "redis-cluster")]
    #[test]
    fn cluster_keys_carry_the_client_as_hash_tag() {
        let q = crate::Quota::per_second(std::num::NonZeroU32::MIN);
        let (auth, api, login) = (
            Policy::new("auth", q),
            Policy::new("api", q),
            Policy::new("login", q),
        );
        let ip = Key::ip("10.0.0.1".parse().unwrap(), 64);
        let user = Key::user("u:1");
        let same = [PolicyCheck::new(&auth, &ip), PolicyCheck::new(&login, &ip)];
        let list = KeyList::new("rl:", &same, true);
        let keys: Vec<&str> = list.iter().collect();
        assert_eq!(keys, ["rl:auth:{ip:10.0.0.1}", "rl:login:{ip:10.0.0.1}"]);
        assert_eq!(hash_tag(keys[0]), "ip:10.0.0.1");
        assert_eq!(list.tag_groups(), None, "one client, one slot, one call");

        let mixed = [
            PolicyCheck::new(&auth, &ip),
            PolicyCheck::new(&api, &user),
            PolicyCheck::new(&login, &ip),
        ];
        let list = KeyList::new("rl:", &mixed, true);
        assert_eq!(list.tag_groups(), Some(vec![vec![0, 2], vec![1]]));
        let cmd = group_command("sha", &list, &mixed, &[0, 2]);
        let args: Vec<String> = cmd
            .args_iter()
            .map(|a| match a {
                ::redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            &args[..5],
            [
                "EVALSHA",
                "sha",
                "2",
                "rl:auth:{ip:10.0.0.1}",
                "rl:login:{ip:10.0.0.1}"
            ]
        );
        assert_eq!(args.len(), 5 + 1 + 3 * 2);
    }

    #[cfg(feature = "redis-cluster")]
    #[test]
    fn hash_tags_follow_the_cluster_rule() {
        assert_eq!(hash_tag("a{b}c"), "b");
        assert_eq!(
            hash_tag("a{}c{d}"),
            "a{}c{d}",
            "an empty first tag: the whole key"
        );
        assert_eq!(hash_tag("a{b"), "a{b");
        assert_eq!(hash_tag("a}b{c}"), "c");
        assert_eq!(hash_tag("{x}{y}"), "x");
    }
}
