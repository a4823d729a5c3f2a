//! Erlang B, C and A: exact, numerically stable for thousands of agents.
//!
//! - Erlang B by the recursion B(n) = A·B(n−1) / (n + A·B(n−1)); never
//!   factorials.
//! - Erlang C from Erlang B: C = N·B / (N − A·(1 − B)), for N > A.
//! - Erlang A (M/M/N+M) from its birth–death chain in log space, truncated
//!   where the tail is below 1e-17 of the mode; the waiting-time
//!   distribution of a caller who finds j others queued ahead is a pure-death
//!   chain with killing (each stage ends at rate Nμ + kθ, the caller's own
//!   patience runs out at rate θ), solved by uniformization.

use crate::WfmError;

/// Erlang B: the probability that all `n` servers are busy (blocking) at
/// offered load `a` Erlangs.
pub fn erlang_b(a: f64, n: u32) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        let ab = a * b;
        b = ab / (k as f64 + ab);
    }
    b
}

/// Erlang C: the probability that an arrival waits, with `n` agents at load
/// `a`. Needs `n > a`.
pub fn erlang_c(a: f64, n: u32) -> Result<f64, WfmError> {
    let nf = n as f64;
    if nf <= a {
        return Err(WfmError::Unstable { agents: n, load: a });
    }
    let b = erlang_b(a, n);
    Ok(nf * b / (nf - a * (1.0 - b)))
}

/// Performance of M/M/N+M (Erlang A), everything per arrival.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ErlangA {
    pub p_wait: f64,
    pub p_abandon: f64,
    /// P(answered with a wait of at most t).
    pub answered_within: f64,
    /// P(abandoned after waiting at most t).
    pub abandoned_within: f64,
    /// Mean wait of the answered, seconds.
    pub asa: f64,
    /// Mean wait over all arrivals (answered and abandoned), seconds.
    pub mean_wait_all: f64,
    /// Mean number waiting, from the stationary distribution.
    pub mean_queue: f64,
}

/// Most states of the birth–death chain kept past N.
const MAX_TAIL: usize = 2_000_000;

/// Erlang A with arrival rate `lambda`, service rate `mu`, abandonment rate
/// `theta` (all per second), `n` agents, service-level threshold `t`
/// seconds.
pub(crate) fn erlang_a(
    lambda: f64,
    mu: f64,
    theta: f64,
    n: u32,
    t: f64,
) -> Result<ErlangA, WfmError> {
    let a = lambda / mu;
    let nf = n as f64;
    // log π_k, k = 0..: below N, Poisson-like; above, divided by Nμ + jθ.
    let mut log_pi: Vec<f64> = Vec::with_capacity(n as usize + 64);
    let mut cur = 0.0f64;
    log_pi.push(cur);
    let ln_a = a.ln();
    for k in 1..=n {
        cur += ln_a - (k as f64).ln();
        log_pi.push(cur);
    }
    let mut max = log_pi.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut j = 0usize;
    loop {
        j += 1;
        cur += (lambda / (nf * mu + j as f64 * theta)).ln();
        log_pi.push(cur);
        max = max.max(cur);
        // Past the mode and negligible: stop.
        if cur < max - 40.0 && lambda < nf * mu + j as f64 * theta {
            break;
        }
        if j > MAX_TAIL {
            return Err(WfmError::TooLarge(
                "the queue of the Erlang A model grows beyond 2,000,000 states",
            ));
        }
    }
    let z: f64 = log_pi.iter().map(|&l| (l - max).exp()).sum();
    let pi = |k: usize| (log_pi[k] - max).exp() / z;
    let big_n = n as usize;
    let tail = log_pi.len() - big_n; // states N.. (j = 0 .. tail-1 ahead of an arrival)
    let p_wait: f64 = (big_n..log_pi.len()).map(pi).sum();
    let mean_queue: f64 = (big_n + 1..log_pi.len())
        .map(|k| (k - big_n) as f64 * pi(k))
        .sum();

    // An arrival finding N + j in the system has j ahead in the queue.
    // Stage k (k ahead) ends at rate Nμ + kθ; its patience rate is θ.
    let rate = |k: usize| nf * mu + k as f64 * theta;
    let mut p_abandon = 0.0;
    let mut served_wait = 0.0; // Σ q_j E[V e^{-θV} | j]
    let mut mean_wait_all = 0.0;
    let mut survive = 1.0; // L_j = Π_{k<=j} rate(k) / (rate(k) + θ)
    let mut stage_sum = 0.0; // Σ_{k<=j} 1/(rate(k)+θ)
    let q: Vec<f64> = (0..tail).map(|j| pi(big_n + j)).collect();
    for (jj, &qj) in q.iter().enumerate() {
        survive *= rate(jj) / (rate(jj) + theta);
        stage_sum += 1.0 / (rate(jj) + theta);
        p_abandon += qj * (1.0 - survive);
        served_wait += qj * survive * stage_sum;
        mean_wait_all += qj
            * if theta > 0.0 {
                (1.0 - survive) / theta
            } else {
                stage_sum
            };
    }
    let p_served = 1.0 - p_abandon;
    let asa = if p_served > 0.0 {
        served_wait / p_served
    } else {
        f64::INFINITY
    };
    let (served_by_t, abandoned_by_t) = uniformize(&q, nf * mu, theta, t);
    Ok(ErlangA {
        p_wait,
        p_abandon,
        answered_within: (1.0 - p_wait) + served_by_t,
        abandoned_within: abandoned_by_t,
        asa,
        mean_wait_all,
        mean_queue,
    })
}

/// For arrivals that queue (weights `q[j]`, j ahead), the probability mass
/// served within `t` and abandoned within `t`, by uniformization.
fn uniformize(q: &[f64], n_mu: f64, theta: f64, t: f64) -> (f64, f64) {
    let jmax = q.len().saturating_sub(1);
    let big_lambda = n_mu + (jmax as f64 + 1.0) * theta;
    if q.is_empty() || t <= 0.0 {
        return (0.0, 0.0);
    }
    let lt = big_lambda * t;
    let mut p: Vec<f64> = q.to_vec();
    let mut next = vec![0.0; p.len()];
    let (mut served, mut abandoned) = (0.0f64, 0.0f64);
    let (mut served_t, mut abandoned_t) = (0.0f64, 0.0f64);
    let mut weight_sum = 0.0f64;
    let mut log_w = -lt; // log Poisson(lt; m)
    let ln_lt = lt.ln();
    let mut m = 0u64;
    let max_steps = (lt + 12.0 * lt.sqrt() + 50.0) as u64;
    loop {
        let w = log_w.exp();
        served_t += w * served;
        abandoned_t += w * abandoned;
        weight_sum += w;
        let remaining: f64 = p.iter().sum();
        if m >= max_steps || remaining < 1e-16 {
            // Past this point the absorbed masses no longer change (or the
            // Poisson weights are exhausted).
            let rest = (1.0 - weight_sum).max(0.0);
            served_t += rest * served;
            abandoned_t += rest * abandoned;
            break;
        }
        // One step of the uniformized chain.
        for x in next.iter_mut() {
            *x = 0.0;
        }
        for (k, &pk) in p.iter().enumerate() {
            if pk == 0.0 {
                continue;
            }
            let advance = n_mu + k as f64 * theta;
            let go = pk * advance / big_lambda;
            let ab = pk * theta / big_lambda;
            if k == 0 {
                served += go;
            } else {
                next[k - 1] += go;
            }
            abandoned += ab;
            next[k] += pk - go - ab;
        }
        std::mem::swap(&mut p, &mut next);
        m += 1;
        log_w += ln_lt - (m as f64).ln();
    }
    (served_t, abandoned_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_small_cases() {
        // B(A=1, N=1) = 1/2; B(A=2, N=2) = 2/5.
        assert!((erlang_b(1.0, 1) - 0.5).abs() < 1e-15);
        assert!((erlang_b(2.0, 2) - 0.4).abs() < 1e-15);
        // Large N stays finite and tiny.
        let b = erlang_b(500.0, 600);
        assert!(b > 0.0 && b < 1e-3, "{b}");
    }

    #[test]
    fn erlang_c_refuses_an_unstable_load() {
        assert!(erlang_c(10.0, 10).is_err());
        assert!(erlang_c(10.0, 11).is_ok());
    }

    #[test]
    fn littles_law_links_the_two_computations_of_the_wait() {
        // E[queue] from the stationary distribution, divided by λ, equals the
        // mean wait computed caller by caller from the stage rates.
        for (lambda, mu, theta, n) in [
            (0.1, 1.0 / 180.0, 1.0 / 60.0, 14),
            (3.0, 1.0 / 480.0, 1.0 / 300.0, 1400),
            (3.0, 1.0 / 480.0, 1.0 / 300.0, 1500),
        ] {
            let r = erlang_a(lambda, mu, theta, n, 20.0).unwrap();
            let little = r.mean_queue / lambda;
            assert!(
                (little - r.mean_wait_all).abs() <= 1e-9 * little.max(1.0),
                "{n}: {little} vs {}",
                r.mean_wait_all
            );
            assert!((r.p_abandon - theta * little).abs() <= 1e-9, "{n}");
        }
    }
}
