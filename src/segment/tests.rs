use super::parse::MAX_SEGMENTS;
use super::*;
use crate::engine::arrivals::ArrivalSchedule;
use proptest::prelude::*;
use std::time::Duration;

fn seg(number: u32, count: u32) -> Segment {
    Segment::new(number - 1, count).unwrap()
}

fn all(count: u32) -> impl Iterator<Item = Segment> {
    (0..count).map(move |i| Segment::new(i, count).unwrap())
}

#[test]
fn parses_i_of_n_and_prints_it_back() {
    let s: Segment = "2/8".parse().unwrap();
    assert_eq!((s.number(), s.index(), s.count()), (2, 1, 8));
    assert_eq!(s.to_string(), "2/8");
    assert_eq!(" 1 / 1 ".parse::<Segment>().unwrap(), Segment::WHOLE);
    assert_eq!(
        "1000/1000".parse::<Segment>().unwrap().count(),
        MAX_SEGMENTS
    );
}

#[test]
fn bad_segments_get_one_line_saying_what_is_accepted() {
    for (arg, says) in [
        ("0/4", "segments count from 1 (1/4 to 4/4)"),
        ("5/4", "there is no segment 5 of 4 (1/4 to 4/4)"),
        ("a/b", "expected I/N such as 2/8"),
        ("1/0", "the number of segments must be at least 1"),
        ("1/1001", "at most 1000 segments"),
        ("1/99999999999999", "at most 1000 segments"),
        ("2", "expected I/N"),
        ("-1/4", "expected I/N"),
        ("1.5/4", "expected I/N"),
        ("", "expected I/N"),
    ] {
        let e = arg.parse::<Segment>().unwrap_err().0;
        assert!(
            e.starts_with(&format!("invalid --segment '{arg}': ")),
            "{e}"
        );
        assert!(e.contains(says), "{arg}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn job_form_takes_the_zero_based_completion_index() {
    let s = Segment::from_arg("job/4", Some("0")).unwrap();
    assert_eq!(s.to_string(), "1/4");
    assert_eq!(
        Segment::from_arg("job/4", Some("3")).unwrap().to_string(),
        "4/4"
    );
    // I/N wins over an environment that happens to be set.
    assert_eq!(
        Segment::from_arg("2/4", Some("0")).unwrap().to_string(),
        "2/4"
    );

    let e = Segment::from_arg("job/4", None).unwrap_err().0;
    assert!(e.contains("JOB_COMPLETION_INDEX is not set"), "{e}");
    let e = Segment::from_arg("job/4", Some("4")).unwrap_err().0;
    assert_eq!(
        e,
        "invalid JOB_COMPLETION_INDEX '4' for 4 segments: indexes run from 0 to 3 (set completions: 4 in the Job)"
    );
    let e = Segment::from_arg("job/4", Some("x")).unwrap_err().0;
    assert!(e.starts_with("invalid JOB_COMPLETION_INDEX 'x'"), "{e}");
    let e = Segment::from_arg("job/0", Some("0")).unwrap_err().0;
    assert!(e.contains("at least 1"), "{e}");
    // A report stores I/N; the job form means nothing without the pod's environment.
    assert!("job/4".parse::<Segment>().is_err());
}

#[test]
fn shares_of_small_counts() {
    let shares = |whole: u64, n: u32| all(n).map(|s| s.share(whole)).collect::<Vec<_>>();
    assert_eq!(shares(10, 4), vec![3, 3, 2, 2]);
    assert_eq!(shares(3, 4), vec![1, 1, 1, 0]);
    assert_eq!(shares(0, 3), vec![0, 0, 0]);
    assert_eq!(Segment::WHOLE.share(7usize), 7);
    assert_eq!(Segment::default(), Segment::WHOLE);
    assert_eq!(seg(2, 3).share(u64::MAX), u64::MAX / 3);
    // A flow's 2 dedicated writers at ids 10..12 of a 4-way split: not on segments 1 and 2,
    // which took the remainder of the first 10 ids.
    let writers: Vec<usize> = all(4).map(|s| s.share_of(10usize..12)).collect();
    assert_eq!(writers, vec![0, 0, 1, 1]);
    assert_eq!(seg(3, 4).owned(10..12).collect::<Vec<_>>(), vec![10]);
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 5u64..3;
    assert_eq!(seg(1, 4).share_of(backwards), 0);
}

#[test]
fn what_every_segment_needs_must_reach_every_segment() {
    let s = seg(1, 4);
    assert!(s.check_each_gets_one("--max-vus", 4).is_ok());
    assert!(s.check_each_gets_one("--max-vus", 0).is_ok());
    assert!(Segment::WHOLE.check_each_gets_one("--max-vus", 1).is_ok());
    let e = s
        .check_each_gets_one("dedicated virtual users of flow `write`", 2)
        .unwrap_err()
        .0;
    assert_eq!(
        e,
        "dedicated virtual users of flow `write`: 2 is too few for 4 segments, each needs \
         at least one (give at least 4, or run at most 2 segments)"
    );
    // At N or more, the even split gives each segment at least one, wherever the ids start.
    for start in 0..8usize {
        assert!(all(4).all(|s| s.share_of(start..start + 4) == 1));
    }
}

#[test]
fn stage_targets_split_exactly_at_every_boundary() {
    let whole = Profile {
        start: 0.0,
        stages: vec![
            Stage {
                duration: Duration::from_secs(30),
                target: 10.0,
            },
            Stage {
                duration: Duration::from_secs(60),
                target: 101.0,
            },
            Stage {
                duration: Duration::from_secs(30),
                target: 0.0,
            },
        ],
    };
    let parts: Vec<Profile> = all(3).map(|s| s.vu_stages(&whole)).collect();
    for (k, stage) in whole.stages.iter().enumerate() {
        let sum: f64 = parts.iter().map(|p| p.stages[k].target).sum();
        assert_eq!(sum, stage.target);
        assert!(parts.iter().all(|p| p.stages[k].duration == stage.duration));
    }
    assert_eq!(parts[0].stages[1].target, 34.0);

    let rate = Profile::constant(100.0, Some(Duration::from_secs(5)));
    let rates: Vec<f64> = all(3)
        .map(|s| s.rate_stages(&rate).stages[0].target)
        .collect();
    assert!(
        (rates.iter().sum::<f64>() - 100.0).abs() < 1e-9,
        "{rates:?}"
    );
    assert_eq!(seg(1, 3).rate(100.0), rates[0]);
}

/// Arrival offsets of the whole run, as the open model computes them.
fn schedule(profile: &Profile) -> impl Iterator<Item = Duration> {
    let mut s = ArrivalSchedule::new(profile.clone());
    std::iter::from_fn(move || s.next_arrival())
}

#[test]
fn strided_schedules_add_up_to_the_single_process_schedule() {
    // 100/s for 3 s, then a ramp to 250/s over 4 s: not a multiple of 3 anywhere.
    let whole = Profile {
        start: 100.0,
        stages: vec![
            Stage {
                duration: Duration::from_secs(3),
                target: 100.0,
            },
            Stage {
                duration: Duration::from_secs(4),
                target: 250.0,
            },
        ],
    };
    let single: Vec<Duration> = schedule(&whole).collect();
    let mut union: Vec<Duration> = all(3).flat_map(|s| s.stride(schedule(&whole))).collect();
    union.sort();
    assert_eq!(union, single);
    // Every one-second window: the segments' arrivals add up to the whole's.
    for second in 0..7u64 {
        let window = Duration::from_secs(second)..Duration::from_secs(second + 1);
        let count = |times: &mut dyn Iterator<Item = Duration>| {
            times.filter(|t| window.contains(t)).count()
        };
        let whole_count = count(&mut single.iter().copied());
        let parts: usize = all(3)
            .map(|s| count(&mut s.stride(single.iter().copied())))
            .sum();
        assert_eq!(parts, whole_count, "second {second}");
    }
}

#[test]
fn seeds_and_tags_differ_per_segment_and_the_whole_keeps_the_run_seed() {
    assert_eq!(Segment::WHOLE.seed(42), 42);
    assert_eq!(Segment::WHOLE.tag_suffix(), "");
    assert_eq!(seg(2, 8).tag_suffix(), "-2of8");
    let mut seeds: Vec<u64> = (2..=64).flat_map(|n| all(n).map(|s| s.seed(42))).collect();
    seeds.push(42);
    let total = seeds.len();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), total, "two segments share a seed");
    assert_ne!(seg(1, 2).seed(1), seg(1, 2).seed(2));
    let mut tags: Vec<String> = (1..=64)
        .flat_map(|n| all(n).map(|s| s.tag_suffix()))
        .collect();
    let total = tags.len();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), total, "two segments share a tag");
}

#[test]
fn serialises_as_i_of_n() {
    let json = serde_json::to_string(&seg(3, 4)).unwrap();
    assert_eq!(json, "\"3/4\"");
    assert_eq!(serde_json::from_str::<Segment>(&json).unwrap(), seg(3, 4));
    let e = serde_json::from_str::<Segment>("\"5/4\"").unwrap_err();
    assert!(e.to_string().contains("no segment 5 of 4"), "{e}");
}

#[test]
fn cover_checks_name_what_is_missing_or_repeated() {
    let four: Vec<Segment> = all(4).collect();
    assert_eq!(check_cover(&four), Ok(()));
    assert_eq!(check_cover(&[Segment::WHOLE]), Ok(()));
    assert_eq!(
        check_cover(&[seg(1, 4), seg(2, 4), seg(4, 4)]),
        Err("segment 3/4 missing: the merge would not be the whole load".into())
    );
    assert_eq!(
        check_cover(&[seg(1, 2), seg(2, 2), seg(2, 2)]),
        Err("segment 2/2 given more than once".into())
    );
    let e = check_cover(&[seg(1, 2), seg(2, 4)]).unwrap_err();
    assert!(e.contains("different splits: 1/2 and 2/4"), "{e}");
    assert!(check_cover(&[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any count, any N: the shares add up to the count and differ by at most one.
    #[test]
    fn shares_add_up_exactly(n in 1u32..=64, whole in any::<u64>(), small in 0u64..10_000) {
        for w in [whole, small] {
            let shares: Vec<u64> = all(n).map(|s| s.share(w)).collect();
            prop_assert_eq!(shares.iter().map(|&x| u128::from(x)).sum::<u128>(), u128::from(w));
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            prop_assert!(hi - lo <= 1);
            let w32 = w as u32;
            prop_assert_eq!(all(n).map(|s| u64::from(s.share(w32))).sum::<u64>(), u64::from(w32));
        }
    }

    /// Splits are prefix-consistent: of the first k units, a segment owns share(k) of them,
    /// so a level ramping through every value splits exactly at every moment.
    #[test]
    fn shares_grow_one_unit_at_a_time(n in 1u32..=64, k in 0u64..100_000) {
        for s in all(n) {
            let step = s.share(k + 1) - s.share(k);
            prop_assert_eq!(step, u64::from(s.owns(k)));
        }
    }

    /// Virtual-user ids of any range (a group's, a flow's): owned by exactly one segment,
    /// each segment's count is its share of the range, and the ids are ascending.
    #[test]
    fn vu_ids_are_disjoint_and_cover(n in 1u32..=64, start in 0usize..5_000, len in 0usize..3_000) {
        let range = start..start + len;
        let mut owners = vec![0u32; len];
        for s in all(n) {
            let ids: Vec<usize> = s.owned(range.clone()).collect();
            prop_assert_eq!(ids.len(), s.share_of(range.clone()));
            prop_assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for id in ids {
                prop_assert!(range.contains(&id) && s.owns(id as u64));
                owners[id - start] += 1;
            }
        }
        prop_assert!(owners.iter().all(|&c| c == 1));
    }

    /// Consecutive parts of one numbering (groups, then flows within them) split so that
    /// every part adds up, and all parts together give each segment its share of the whole.
    #[test]
    fn parts_of_a_numbering_add_up(n in 1u32..=64, sizes in prop::collection::vec(0u64..500, 1..8)) {
        let total: u64 = sizes.iter().sum();
        for s in all(n) {
            let mut start = 0;
            let mut mine = 0;
            for &size in &sizes {
                mine += s.share_of(start..start + size);
                start += size;
            }
            prop_assert_eq!(mine, s.share(total));
        }
        for (i, &size) in sizes.iter().enumerate() {
            let start: u64 = sizes[..i].iter().sum();
            prop_assert_eq!(all(n).map(|s| s.share_of(start..start + size)).sum::<u64>(), size);
        }
    }

    /// Striding any sequence: the segments' items, interleaved, are the sequence.
    #[test]
    fn strides_partition_a_sequence(n in 1u32..=64, len in 0usize..2_000) {
        let mut seen = vec![0u32; len];
        for s in all(n) {
            let items: Vec<usize> = s.stride(0..len).collect();
            prop_assert_eq!(items.len() as u64, s.share(len as u64));
            for k in items {
                prop_assert!(s.owns(k as u64));
                seen[k] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&c| c == 1));
    }

    /// Whatever the stage targets, the segments' targets add up to them.
    #[test]
    fn vu_stage_targets_add_up(n in 1u32..=64, targets in prop::collection::vec(0u32..100_000, 1..6)) {
        let whole = Profile {
            start: 0.0,
            stages: targets
                .iter()
                .map(|&t| Stage { duration: Duration::from_secs(1), target: f64::from(t) })
                .collect(),
        };
        let parts: Vec<Profile> = all(n).map(|s| s.vu_stages(&whole)).collect();
        for (k, &t) in targets.iter().enumerate() {
            prop_assert_eq!(parts.iter().map(|p| p.stages[k].target).sum::<f64>(), f64::from(t));
        }
    }

    /// Rates: the nominal shares add up within rounding; the strided schedule exactly.
    #[test]
    fn rate_shares_add_up(n in 1u32..=64, rate in 0.001f64..1e6) {
        let sum: f64 = all(n).map(|s| s.rate(rate)).sum();
        prop_assert!((sum - rate).abs() <= rate * 1e-12);
    }

    #[test]
    fn every_valid_segment_parses_back(n in 1u32..=MAX_SEGMENTS, i in 0u32..MAX_SEGMENTS) {
        let s = Segment::new(i % n, n).unwrap();
        prop_assert_eq!(s.to_string().parse::<Segment>().unwrap(), s);
        let job = Segment::from_arg(&format!("job/{n}"), Some(&s.index().to_string())).unwrap();
        prop_assert_eq!(job, s);
    }
}
