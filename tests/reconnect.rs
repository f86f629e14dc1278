//! The reconnect policy through its public API: one test per close-code rule,
//! real `CloseInfo`s from the simulation, and properties: every delay within
//! `[0, max_delay]`, the sequence replayed exactly from the seed, the reset
//! after a long-lived connection, and the exact backoff without jitter.

use proptest::prelude::*;
use wsmachine::reconnect::{Decision, GiveUpReason, ReconnectConfig, ReconnectPolicy};
use wsmachine::sim::{Side, Sim, SimConfig};
use wsmachine::{
    CloseCause, CloseCode, CloseFrame, CloseInfo, Config, Duration, Initiator, Instant,
    ProtocolError,
};

const T0: Instant = Instant::from_secs(100);

/// A close that came without a close frame (1006).
fn eof() -> CloseInfo {
    CloseInfo {
        sent: None,
        received: None,
        initiator: Initiator::Remote,
        clean: false,
        cause: CloseCause::Eof,
        since_last_received: Duration::from_secs(1),
        last_rtt: None,
    }
}

/// A close the server started with `code`, answered by us.
fn server_closed(code: u16) -> CloseInfo {
    let frame = CloseFrame {
        code: CloseCode(code),
        reason: "".into(),
    };
    CloseInfo {
        sent: Some(frame.clone()),
        received: Some(frame),
        initiator: Initiator::Remote,
        clean: true,
        cause: CloseCause::Handshake,
        since_last_received: Duration::ZERO,
        last_rtt: None,
    }
}

/// A close with `cause`, started by the connection itself.
fn library(cause: CloseCause, sent: u16) -> CloseInfo {
    CloseInfo {
        sent: Some(CloseFrame {
            code: CloseCode(sent),
            reason: "".into(),
        }),
        received: None,
        initiator: Initiator::Library,
        clean: false,
        cause,
        since_last_received: Duration::ZERO,
        last_rtt: None,
    }
}

/// No randomness: delays are the windows themselves.
fn exact() -> ReconnectConfig {
    ReconnectConfig::default().jitter(false)
}

fn delay(decision: Decision) -> Duration {
    match decision {
        Decision::Reconnect { delay, .. } => delay,
        other => panic!("expected a reconnect, got {other:?}"),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn defaults() {
    let c = ReconnectConfig::default();
    assert_eq!(c.initial_delay, ms(500));
    assert_eq!(c.factor, 2.0);
    assert_eq!(c.max_delay, Duration::from_secs(30));
    assert!(c.jitter);
    assert_eq!(c.first_attempt_delay, Duration::from_secs(5));
    assert_eq!(c.reset_after, Duration::from_secs(60));
    assert!(!c.retry_on_policy);
    assert_eq!(c.try_again_later_factor, 4);
    assert_eq!(c.max_attempts, None);
}

#[test]
fn abnormal_closes_back_off() {
    let causes = [
        eof(),
        library(CloseCause::PingTimeout, 1011),
        library(CloseCause::IdleTimeout, 1001),
        library(CloseCause::CloseTimeout, 1000),
    ];
    for info in causes {
        let mut policy = ReconnectPolicy::new(exact(), 1);
        // 0.5 s, 1 s, 2 s: the backoff grows with each consecutive close.
        for (n, expected) in [500, 1000, 2000].into_iter().enumerate() {
            policy.on_connected(T0);
            let now = T0 + Duration::from_secs(1);
            let decision = policy.on_closed(now, &info);
            assert_eq!(
                decision,
                Decision::Reconnect {
                    at: now + ms(expected),
                    delay: ms(expected)
                },
                "{:?} #{n}",
                info.cause
            );
        }
        assert_eq!(policy.attempts(), 3);
    }
}

#[test]
fn protocol_errors_we_detected_back_off() {
    for (error, code) in [
        (ProtocolError::ReservedBits, 1002),
        (ProtocolError::InvalidUtf8, 1007),
        (ProtocolError::MessageTooLarge { size: 10, limit: 5 }, 1009),
    ] {
        let mut policy = ReconnectPolicy::new(exact(), 1);
        let info = library(CloseCause::Protocol(error), code);
        assert_eq!(delay(policy.on_closed(T0, &info)), ms(500));
        assert_eq!(delay(policy.on_closed(T0, &info)), ms(1000));
    }
}

#[test]
fn normal_and_going_away_from_the_server_reconnect() {
    for code in [1000, 1001, 1002, 1011, 1014, 4000] {
        let mut policy = ReconnectPolicy::new(exact(), 1);
        assert_eq!(
            delay(policy.on_closed(T0, &server_closed(code))),
            ms(500),
            "{code}"
        );
        assert_eq!(policy.attempts(), 1);
    }
}

#[test]
fn policy_violation_and_unsupported_data_give_up() {
    for code in [1008, 1003] {
        let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), 1);
        assert_eq!(
            policy.on_closed(T0, &server_closed(code)),
            Decision::GiveUp {
                reason: GiveUpReason::Refused(CloseCode(code))
            }
        );
        assert_eq!(policy.attempts(), 0);
    }
}

#[test]
fn policy_violation_retried_when_configured() {
    for code in [1008, 1003] {
        let mut policy = ReconnectPolicy::new(exact().retry_on_policy(true), 1);
        assert_eq!(delay(policy.on_closed(T0, &server_closed(code))), ms(500));
        assert_eq!(delay(policy.on_closed(T0, &server_closed(code))), ms(1000));
    }
}

#[test]
fn service_restart_reconnects_soon_without_growth() {
    let config = ReconnectConfig::default();
    let mut policy = ReconnectPolicy::new(config.clone(), 7);
    // Many failures first: the window would be at the cap by now.
    for _ in 0..20 {
        let _ = policy.on_connect_failed(T0);
    }
    for _ in 0..50 {
        policy.on_connected(T0);
        let d = delay(policy.on_closed(T0 + ms(10), &server_closed(1012)));
        assert!(d <= config.first_attempt_delay, "{d:?}");
        // The count starts over: the next failure continues from the first step.
        assert_eq!(policy.attempts(), 1);
    }
    let d = delay(policy.on_connect_failed(T0));
    assert!(d <= ms(1000), "{d:?}");

    // Without jitter: the first-attempt delay (initial_delay), every time.
    let mut policy = ReconnectPolicy::new(exact(), 7);
    for _ in 0..5 {
        let _ = policy.on_connect_failed(T0);
    }
    for _ in 0..3 {
        assert_eq!(delay(policy.on_closed(T0, &server_closed(1012))), ms(500));
    }
}

#[test]
fn try_again_later_backs_off_harder_and_is_capped() {
    let mut policy = ReconnectPolicy::new(exact(), 1);
    // 0.5 s × 4, 1 s × 4, 2 s × 4, 4 s × 4, 8 s × 4 (capped at 30 s), then the cap.
    for expected in [2000, 4000, 8000, 16000, 30000, 30000] {
        assert_eq!(
            delay(policy.on_closed(T0, &server_closed(1013))),
            ms(expected)
        );
    }
    // With jitter: within the 4× window, capped at max_delay.
    let config = ReconnectConfig::default().max_delay(Duration::from_secs(12));
    let mut policy = ReconnectPolicy::new(config, 3);
    let first = delay(policy.on_closed(T0, &server_closed(1013)));
    assert!(first <= Duration::from_secs(12)); // 5 s × 4 = 20 s, capped
    for _ in 0..20 {
        let d = delay(policy.on_closed(T0, &server_closed(1013)));
        assert!(d <= Duration::from_secs(12), "{d:?}");
    }
}

#[test]
fn a_close_we_started_is_final() {
    let frame = CloseFrame {
        code: CloseCode::NORMAL,
        reason: "bye".into(),
    };
    let info = CloseInfo {
        sent: Some(frame.clone()),
        received: Some(frame),
        initiator: Initiator::Local,
        clean: true,
        cause: CloseCause::Handshake,
        since_last_received: Duration::ZERO,
        last_rtt: None,
    };
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), 1);
    assert_eq!(
        policy.on_closed(T0, &info),
        Decision::GiveUp {
            reason: GiveUpReason::ClosedLocally
        }
    );
}

#[test]
fn first_reconnect_is_randomised_within_first_attempt_delay() {
    // RFC 6455 §7.2.3: a random first delay, 0 to 5 s by default.
    let mut delays = Vec::new();
    for seed in 0..200 {
        let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), seed);
        let d = delay(policy.on_closed(T0, &eof()));
        assert!(d <= Duration::from_secs(5));
        delays.push(d);
    }
    // Spread over the window, not clustered.
    assert!(delays.iter().any(|d| *d < Duration::from_secs(1)));
    assert!(delays.iter().any(|d| *d > Duration::from_secs(4)));
    // A first failed connect is randomised the same way.
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), 9);
    assert!(delay(policy.on_connect_failed(T0)) <= Duration::from_secs(5));
}

#[test]
fn a_long_lived_connection_resets_the_backoff() {
    let mut policy = ReconnectPolicy::new(exact(), 1);
    for _ in 0..6 {
        let _ = policy.on_connect_failed(T0);
    }
    assert_eq!(policy.attempts(), 6);
    // Up for 59 s: not long enough, the backoff goes on (0.5 s × 2^6).
    policy.on_connected(T0);
    let d = delay(policy.on_closed(T0 + Duration::from_secs(59), &eof()));
    assert_eq!(d, Duration::from_secs(30)); // 32 s, capped
    assert_eq!(policy.attempts(), 7);
    // Up for 60 s: the counter starts over before the decision.
    policy.on_connected(T0);
    let d = delay(policy.on_closed(T0 + Duration::from_secs(60), &eof()));
    assert_eq!(d, ms(500));
    assert_eq!(policy.attempts(), 1);
}

#[test]
fn reset_starts_over() {
    let mut policy = ReconnectPolicy::new(exact(), 1);
    for _ in 0..4 {
        let _ = policy.on_connect_failed(T0);
    }
    policy.reset();
    assert_eq!(policy.attempts(), 0);
    assert_eq!(delay(policy.on_connect_failed(T0)), ms(500));
}

#[test]
fn max_attempts_gives_up() {
    let mut policy = ReconnectPolicy::new(exact().max_attempts(Some(3)), 1);
    for _ in 0..3 {
        assert!(matches!(
            policy.on_connect_failed(T0),
            Decision::Reconnect { .. }
        ));
    }
    assert_eq!(
        policy.on_connect_failed(T0),
        Decision::GiveUp {
            reason: GiveUpReason::TooManyAttempts(3)
        }
    );
    // A connection that lasted resets the count, and with it the limit.
    policy.on_connected(T0);
    assert!(matches!(
        policy.on_closed(T0 + Duration::from_secs(60), &eof()),
        Decision::Reconnect { .. }
    ));
}

#[test]
fn reconnect_at_is_now_plus_delay_and_saturates() {
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), 5);
    let Decision::Reconnect { at, delay } = policy.on_connect_failed(T0) else {
        panic!()
    };
    assert_eq!(at, T0 + delay);
    let Decision::Reconnect { at, .. } = policy.on_connect_failed(Instant::MAX) else {
        panic!()
    };
    assert_eq!(at, Instant::MAX);
}

#[test]
fn give_up_reasons_display() {
    assert_eq!(
        GiveUpReason::Refused(CloseCode::POLICY_VIOLATION).to_string(),
        "the server refused this client (1008 (policy violation))"
    );
    assert_eq!(
        GiveUpReason::TooManyAttempts(4).to_string(),
        "4 reconnect attempts failed"
    );
    assert_eq!(
        Decision::GiveUp {
            reason: GiveUpReason::ClosedLocally
        }
        .delay(),
        None
    );
}

#[test]
fn real_close_infos_from_the_simulation() {
    // A half-open path: the keepalive ping times out (1011 sent, cause PingTimeout).
    let config = Config::default()
        .ping_interval(Some(Duration::from_secs(25)))
        .pong_timeout(Duration::from_secs(10));
    let mut sim = Sim::new(SimConfig::default().client_config(config));
    let mut policy = ReconnectPolicy::new(exact(), 1);
    policy.on_connected(sim.now());
    sim.run_for(Duration::from_secs(1));
    sim.set_blackhole(Side::Server, true);
    sim.run_for(Duration::from_secs(60));
    let info = sim.closed(Side::Client).expect("detected").clone();
    assert_eq!(info.cause, CloseCause::PingTimeout);
    assert_eq!(delay(policy.on_closed(sim.now(), &info)), ms(500));

    // The server restarts: close 1012, answered by the client.
    let mut sim = Sim::new(SimConfig::default());
    let mut policy = ReconnectPolicy::new(exact(), 1);
    policy.on_connected(sim.now());
    let now = sim.now();
    sim.server()
        .close(now, CloseCode::SERVICE_RESTART, "restart")
        .unwrap();
    assert!(sim.run_until_closed(Duration::from_secs(30)));
    let info = sim.closed(Side::Client).expect("closed").clone();
    assert_eq!(info.code(), CloseCode::SERVICE_RESTART);
    assert_eq!(delay(policy.on_closed(sim.now(), &info)), ms(500));

    // The server refuses us: close 1008.
    let mut sim = Sim::new(SimConfig::default());
    let now = sim.now();
    sim.server()
        .close(now, CloseCode::POLICY_VIOLATION, "banned")
        .unwrap();
    assert!(sim.run_until_closed(Duration::from_secs(30)));
    let info = sim.closed(Side::Client).expect("closed").clone();
    let mut policy = ReconnectPolicy::new(ReconnectConfig::default(), 1);
    assert_eq!(
        policy.on_closed(sim.now(), &info),
        Decision::GiveUp {
            reason: GiveUpReason::Refused(CloseCode::POLICY_VIOLATION)
        }
    );
}

// --- properties ---

/// Something that happens to a client, as the policy sees it.
#[derive(Clone, Debug)]
enum Step {
    /// Time passes.
    Advance(Duration),
    Connected,
    Closed(CloseInfo),
    ConnectFailed,
    Reset,
}

fn arb_close() -> impl Strategy<Value = CloseInfo> {
    let cause = prop_oneof![
        Just(CloseCause::Handshake),
        Just(CloseCause::Eof),
        Just(CloseCause::PingTimeout),
        Just(CloseCause::IdleTimeout),
        Just(CloseCause::CloseTimeout),
        Just(CloseCause::Protocol(ProtocolError::ReservedBits)),
    ];
    let initiator = prop_oneof![
        Just(Initiator::Local),
        Just(Initiator::Remote),
        Just(Initiator::Library),
    ];
    let code = prop_oneof![
        prop::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013, 4000
        ]),
        any::<u16>(),
    ];
    (cause, initiator, prop::option::of(code)).prop_map(|(cause, initiator, code)| CloseInfo {
        sent: None,
        received: code.map(|c| CloseFrame {
            code: CloseCode(c),
            reason: "".into(),
        }),
        initiator,
        clean: code.is_some(),
        cause,
        since_last_received: Duration::ZERO,
        last_rtt: None,
    })
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..200_000_000).prop_map(|us| Step::Advance(Duration::from_micros(us))),
        Just(Step::Connected),
        arb_close().prop_map(Step::Closed),
        Just(Step::ConnectFailed),
        Just(Step::Reset),
    ]
}

/// Durations from zero to an hour, with the edges.
fn arb_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_micros(1)),
        (0u64..3_600_000_000).prop_map(Duration::from_micros),
    ]
}

fn arb_config() -> impl Strategy<Value = ReconnectConfig> {
    let factor = prop_oneof![
        Just(1.0f64),
        Just(2.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(0.0),
        Just(-3.0),
        0.0f64..10.0,
    ];
    (
        (arb_duration(), factor, arb_duration(), any::<bool>()),
        (
            arb_duration(),
            arb_duration(),
            any::<bool>(),
            prop_oneof![Just(0u32), Just(u32::MAX), 0u32..10],
            prop::option::of(0u32..10),
        ),
    )
        .prop_map(
            |(
                (initial, factor, max, jitter),
                (first, reset_after, retry, try_again_later, max_attempts),
            )| {
                ReconnectConfig::default()
                    .initial_delay(initial)
                    .factor(factor)
                    .max_delay(max)
                    .jitter(jitter)
                    .first_attempt_delay(first)
                    .reset_after(reset_after)
                    .retry_on_policy(retry)
                    .try_again_later_factor(try_again_later)
                    .max_attempts(max_attempts)
            },
        )
}

/// Runs `steps` and returns every decision, with the time it was made.
fn run(policy: &mut ReconnectPolicy, steps: &[Step]) -> Vec<(Instant, Decision)> {
    let mut now = T0;
    let mut decisions = Vec::new();
    for step in steps {
        match step {
            Step::Advance(d) => now = now + *d,
            Step::Connected => policy.on_connected(now),
            Step::Closed(info) => decisions.push((now, policy.on_closed(now, info))),
            Step::ConnectFailed => decisions.push((now, policy.on_connect_failed(now))),
            Step::Reset => policy.reset(),
        }
    }
    decisions
}

proptest! {
    #[test]
    fn delays_stay_within_zero_and_the_cap(
        config in arb_config(),
        seed in any::<u64>(),
        steps in prop::collection::vec(arb_step(), 0..80),
    ) {
        let cap = config.max_delay;
        let mut policy = ReconnectPolicy::new(config, seed);
        for (now, decision) in run(&mut policy, &steps) {
            if let Decision::Reconnect { at, delay } = decision {
                prop_assert!(delay <= cap, "{delay:?} > {cap:?}");
                prop_assert_eq!(at, now + delay);
            }
        }
    }

    #[test]
    fn the_sequence_replays_from_the_seed(
        config in arb_config(),
        seed in any::<u64>(),
        steps in prop::collection::vec(arb_step(), 0..80),
    ) {
        let first = run(&mut ReconnectPolicy::new(config.clone(), seed), &steps);
        let second = run(&mut ReconnectPolicy::new(config, seed), &steps);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn different_seeds_give_different_delays(a in any::<u64>(), b in any::<u64>()) {
        prop_assume!(a != b);
        let failures = vec![Step::ConnectFailed; 20];
        let config = ReconnectConfig::default();
        let first = run(&mut ReconnectPolicy::new(config.clone(), a), &failures);
        let second = run(&mut ReconnectPolicy::new(config, b), &failures);
        // 20 draws from windows of at least half a second, in microseconds:
        // equal sequences are (practically) impossible.
        prop_assert_ne!(first, second);
    }

    #[test]
    fn a_long_connection_brings_back_the_first_window(
        config in arb_config(),
        seed in any::<u64>(),
        steps in prop::collection::vec(arb_step(), 0..60),
        extra in arb_duration(),
    ) {
        let mut policy = ReconnectPolicy::new(config.clone(), seed);
        let decisions = run(&mut policy, &steps);
        let now = decisions.last().map_or(T0, |(t, _)| *t) + Duration::from_secs(3600);
        policy.on_connected(now);
        let closed_at = now + config.reset_after + extra;
        let decision = policy.on_closed(closed_at, &CloseInfo {
            sent: None,
            received: None,
            initiator: Initiator::Remote,
            clean: false,
            cause: CloseCause::Eof,
            since_last_received: Duration::ZERO,
            last_rtt: None,
        });
        let first_window = if config.jitter {
            config.first_attempt_delay
        } else {
            config.initial_delay
        }
        .min(config.max_delay);
        match decision {
            Decision::Reconnect { delay, .. } => {
                prop_assert!(delay <= first_window, "{delay:?} > {first_window:?}");
                if !config.jitter {
                    prop_assert_eq!(delay, first_window);
                }
                prop_assert_eq!(policy.attempts(), 1);
            }
            // Only `max_attempts(Some(0))` forbids even the first reconnect.
            Decision::GiveUp { reason } => {
                prop_assert_eq!(config.max_attempts, Some(0));
                prop_assert_eq!(reason, GiveUpReason::TooManyAttempts(0));
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn without_jitter_delays_are_initial_times_factor_to_the_n(
        initial_us in 1u64..10_000_000,
        factor in 1u32..=4,
        max_us in 0u64..3_600_000_000,
        failures in 1usize..80,
    ) {
        let config = ReconnectConfig::default()
            .jitter(false)
            .initial_delay(Duration::from_micros(initial_us))
            .factor(f64::from(factor))
            .max_delay(Duration::from_micros(max_us));
        let mut policy = ReconnectPolicy::new(config, 0);
        for n in 0..failures {
            let power = u128::from(factor)
                .checked_pow(u32::try_from(n).unwrap())
                .unwrap_or(u128::MAX);
            let expected = u128::from(initial_us)
                .saturating_mul(power)
                .min(u128::from(max_us));
            let d = delay(policy.on_connect_failed(T0));
            prop_assert_eq!(d.as_micros(), expected, "attempt {}", n);
        }
    }

    #[test]
    fn without_jitter_fractional_factors_follow_the_formula(
        initial_us in 1u64..10_000_000,
        factor in 1.0f64..3.0,
        max_us in 0u64..3_600_000_000,
        failures in 1i32..60,
    ) {
        let config = ReconnectConfig::default()
            .jitter(false)
            .initial_delay(Duration::from_micros(initial_us))
            .factor(factor)
            .max_delay(Duration::from_micros(max_us));
        let mut policy = ReconnectPolicy::new(config, 0);
        let mut previous = Duration::ZERO;
        for n in 0..failures {
            let expected = (initial_us as f64 * factor.powi(n)).min(max_us as f64);
            let d = delay(policy.on_connect_failed(T0));
            // Rounded down to whole microseconds; squaring and powi may differ
            // in the last bits.
            let error = (d.as_micros() as f64 - expected).abs();
            prop_assert!(error <= 1.0 + expected * 1e-12, "attempt {n}: {d:?} vs {expected}");
            prop_assert!(d >= previous, "the backoff never shrinks");
            previous = d;
        }
    }

    #[test]
    fn with_jitter_each_delay_is_within_its_window(
        seed in any::<u64>(),
        failures in 1u32..40,
    ) {
        let config = ReconnectConfig::default();
        let mut policy = ReconnectPolicy::new(config.clone(), seed);
        for n in 0..failures {
            let window = if n == 0 {
                config.first_attempt_delay
            } else {
                config.initial_delay.saturating_mul(1 << n.min(16)).min(config.max_delay)
            };
            let d = delay(policy.on_connect_failed(T0));
            prop_assert!(d <= window, "attempt {n}: {d:?} > {window:?}");
        }
    }
}
