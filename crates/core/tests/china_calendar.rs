//! A check of the built-in China calendar against the published list of holidays and
//! adjusted working days for every year it contains.
//!
//! The lists below are written out independently of `calendar::china`, one date per day off,
//! from the State Council notices (国务院办公厅关于某年部分节假日安排的通知).

use jiff::civil::{Date, Weekday};
use jiff::Timestamp;
use std::collections::HashMap;
use steward_core::calendar::{china, DayReason, WorkingCalendar};

struct Year {
    year: i16,
    /// Festival name as the notice gives it, and every date off.
    off: &'static [(&'static str, &'static [&'static str])],
    /// Festival name and the weekend dates worked for it.
    worked: &'static [(&'static str, &'static [&'static str])],
}

const PUBLISHED: &[Year] = &[
    Year {
        year: 2019,
        off: &[
            ("元旦", &["2018-12-30", "2018-12-31", "2019-01-01"]),
            (
                "春节",
                &[
                    "2019-02-04",
                    "2019-02-05",
                    "2019-02-06",
                    "2019-02-07",
                    "2019-02-08",
                    "2019-02-09",
                    "2019-02-10",
                ],
            ),
            ("清明节", &["2019-04-05"]),
            (
                "劳动节",
                &["2019-05-01", "2019-05-02", "2019-05-03", "2019-05-04"],
            ),
            ("端午节", &["2019-06-07"]),
            ("中秋节", &["2019-09-13"]),
            (
                "国庆节",
                &[
                    "2019-10-01",
                    "2019-10-02",
                    "2019-10-03",
                    "2019-10-04",
                    "2019-10-05",
                    "2019-10-06",
                    "2019-10-07",
                ],
            ),
        ],
        worked: &[
            ("元旦", &["2018-12-29"]),
            ("春节", &["2019-02-02", "2019-02-03"]),
            ("劳动节", &["2019-04-28", "2019-05-05"]),
            ("国庆节", &["2019-09-29", "2019-10-12"]),
        ],
    },
    Year {
        year: 2020,
        off: &[
            ("元旦", &["2020-01-01"]),
            (
                "春节",
                &[
                    "2020-01-24",
                    "2020-01-25",
                    "2020-01-26",
                    "2020-01-27",
                    "2020-01-28",
                    "2020-01-29",
                    "2020-01-30",
                    "2020-01-31",
                    "2020-02-01",
                    "2020-02-02",
                ],
            ),
            ("清明节", &["2020-04-04", "2020-04-05", "2020-04-06"]),
            (
                "劳动节",
                &[
                    "2020-05-01",
                    "2020-05-02",
                    "2020-05-03",
                    "2020-05-04",
                    "2020-05-05",
                ],
            ),
            ("端午节", &["2020-06-25", "2020-06-26", "2020-06-27"]),
            (
                "国庆节、中秋节",
                &[
                    "2020-10-01",
                    "2020-10-02",
                    "2020-10-03",
                    "2020-10-04",
                    "2020-10-05",
                    "2020-10-06",
                    "2020-10-07",
                    "2020-10-08",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2020-01-19"]),
            ("劳动节", &["2020-04-26", "2020-05-09"]),
            ("端午节", &["2020-06-28"]),
            ("国庆节、中秋节", &["2020-09-27", "2020-10-10"]),
        ],
    },
    Year {
        year: 2021,
        off: &[
            ("元旦", &["2021-01-01", "2021-01-02", "2021-01-03"]),
            (
                "春节",
                &[
                    "2021-02-11",
                    "2021-02-12",
                    "2021-02-13",
                    "2021-02-14",
                    "2021-02-15",
                    "2021-02-16",
                    "2021-02-17",
                ],
            ),
            ("清明节", &["2021-04-03", "2021-04-04", "2021-04-05"]),
            (
                "劳动节",
                &[
                    "2021-05-01",
                    "2021-05-02",
                    "2021-05-03",
                    "2021-05-04",
                    "2021-05-05",
                ],
            ),
            ("端午节", &["2021-06-12", "2021-06-13", "2021-06-14"]),
            ("中秋节", &["2021-09-19", "2021-09-20", "2021-09-21"]),
            (
                "国庆节",
                &[
                    "2021-10-01",
                    "2021-10-02",
                    "2021-10-03",
                    "2021-10-04",
                    "2021-10-05",
                    "2021-10-06",
                    "2021-10-07",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2021-02-07", "2021-02-20"]),
            ("劳动节", &["2021-04-25", "2021-05-08"]),
            ("中秋节", &["2021-09-18"]),
            ("国庆节", &["2021-09-26", "2021-10-09"]),
        ],
    },
    Year {
        year: 2022,
        off: &[
            ("元旦", &["2022-01-01", "2022-01-02", "2022-01-03"]),
            (
                "春节",
                &[
                    "2022-01-31",
                    "2022-02-01",
                    "2022-02-02",
                    "2022-02-03",
                    "2022-02-04",
                    "2022-02-05",
                    "2022-02-06",
                ],
            ),
            ("清明节", &["2022-04-03", "2022-04-04", "2022-04-05"]),
            (
                "劳动节",
                &[
                    "2022-04-30",
                    "2022-05-01",
                    "2022-05-02",
                    "2022-05-03",
                    "2022-05-04",
                ],
            ),
            ("端午节", &["2022-06-03", "2022-06-04", "2022-06-05"]),
            ("中秋节", &["2022-09-10", "2022-09-11", "2022-09-12"]),
            (
                "国庆节",
                &[
                    "2022-10-01",
                    "2022-10-02",
                    "2022-10-03",
                    "2022-10-04",
                    "2022-10-05",
                    "2022-10-06",
                    "2022-10-07",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2022-01-29", "2022-01-30"]),
            ("清明节", &["2022-04-02"]),
            ("劳动节", &["2022-04-24", "2022-05-07"]),
            ("国庆节", &["2022-10-08", "2022-10-09"]),
        ],
    },
    Year {
        year: 2023,
        off: &[
            ("元旦", &["2022-12-31", "2023-01-01", "2023-01-02"]),
            (
                "春节",
                &[
                    "2023-01-21",
                    "2023-01-22",
                    "2023-01-23",
                    "2023-01-24",
                    "2023-01-25",
                    "2023-01-26",
                    "2023-01-27",
                ],
            ),
            ("清明节", &["2023-04-05"]),
            (
                "劳动节",
                &[
                    "2023-04-29",
                    "2023-04-30",
                    "2023-05-01",
                    "2023-05-02",
                    "2023-05-03",
                ],
            ),
            ("端午节", &["2023-06-22", "2023-06-23", "2023-06-24"]),
            (
                "中秋节、国庆节",
                &[
                    "2023-09-29",
                    "2023-09-30",
                    "2023-10-01",
                    "2023-10-02",
                    "2023-10-03",
                    "2023-10-04",
                    "2023-10-05",
                    "2023-10-06",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2023-01-28", "2023-01-29"]),
            ("劳动节", &["2023-04-23", "2023-05-06"]),
            ("端午节", &["2023-06-25"]),
            ("中秋节、国庆节", &["2023-10-07", "2023-10-08"]),
        ],
    },
    Year {
        year: 2024,
        off: &[
            ("元旦", &["2024-01-01"]),
            (
                "春节",
                &[
                    "2024-02-10",
                    "2024-02-11",
                    "2024-02-12",
                    "2024-02-13",
                    "2024-02-14",
                    "2024-02-15",
                    "2024-02-16",
                    "2024-02-17",
                ],
            ),
            ("清明节", &["2024-04-04", "2024-04-05", "2024-04-06"]),
            (
                "劳动节",
                &[
                    "2024-05-01",
                    "2024-05-02",
                    "2024-05-03",
                    "2024-05-04",
                    "2024-05-05",
                ],
            ),
            ("端午节", &["2024-06-10"]),
            ("中秋节", &["2024-09-15", "2024-09-16", "2024-09-17"]),
            (
                "国庆节",
                &[
                    "2024-10-01",
                    "2024-10-02",
                    "2024-10-03",
                    "2024-10-04",
                    "2024-10-05",
                    "2024-10-06",
                    "2024-10-07",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2024-02-04", "2024-02-18"]),
            ("清明节", &["2024-04-07"]),
            ("劳动节", &["2024-04-28", "2024-05-11"]),
            ("中秋节", &["2024-09-14"]),
            ("国庆节", &["2024-09-29", "2024-10-12"]),
        ],
    },
    Year {
        year: 2025,
        off: &[
            ("元旦", &["2025-01-01"]),
            (
                "春节",
                &[
                    "2025-01-28",
                    "2025-01-29",
                    "2025-01-30",
                    "2025-01-31",
                    "2025-02-01",
                    "2025-02-02",
                    "2025-02-03",
                    "2025-02-04",
                ],
            ),
            ("清明节", &["2025-04-04", "2025-04-05", "2025-04-06"]),
            (
                "劳动节",
                &[
                    "2025-05-01",
                    "2025-05-02",
                    "2025-05-03",
                    "2025-05-04",
                    "2025-05-05",
                ],
            ),
            ("端午节", &["2025-05-31", "2025-06-01", "2025-06-02"]),
            (
                "国庆节、中秋节",
                &[
                    "2025-10-01",
                    "2025-10-02",
                    "2025-10-03",
                    "2025-10-04",
                    "2025-10-05",
                    "2025-10-06",
                    "2025-10-07",
                    "2025-10-08",
                ],
            ),
        ],
        worked: &[
            ("春节", &["2025-01-26", "2025-02-08"]),
            ("劳动节", &["2025-04-27"]),
            ("国庆节、中秋节", &["2025-09-28", "2025-10-11"]),
        ],
    },
    Year {
        year: 2026,
        off: &[
            ("元旦", &["2026-01-01", "2026-01-02", "2026-01-03"]),
            (
                "春节",
                &[
                    "2026-02-15",
                    "2026-02-16",
                    "2026-02-17",
                    "2026-02-18",
                    "2026-02-19",
                    "2026-02-20",
                    "2026-02-21",
                    "2026-02-22",
                    "2026-02-23",
                ],
            ),
            ("清明节", &["2026-04-04", "2026-04-05", "2026-04-06"]),
            (
                "劳动节",
                &[
                    "2026-05-01",
                    "2026-05-02",
                    "2026-05-03",
                    "2026-05-04",
                    "2026-05-05",
                ],
            ),
            ("端午节", &["2026-06-19", "2026-06-20", "2026-06-21"]),
            ("中秋节", &["2026-09-25", "2026-09-26", "2026-09-27"]),
            (
                "国庆节",
                &[
                    "2026-10-01",
                    "2026-10-02",
                    "2026-10-03",
                    "2026-10-04",
                    "2026-10-05",
                    "2026-10-06",
                    "2026-10-07",
                ],
            ),
        ],
        worked: &[
            ("元旦", &["2026-01-04"]),
            ("春节", &["2026-02-14", "2026-02-28"]),
            ("劳动节", &["2026-05-09"]),
            ("国庆节", &["2026-09-20", "2026-10-10"]),
        ],
    },
];

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn beijing(s: &str) -> Timestamp {
    format!("{s}[Asia/Shanghai]")
        .parse::<jiff::Zoned>()
        .unwrap()
        .timestamp()
}

#[test]
fn the_covered_years_are_the_published_ones() {
    let published: Vec<i16> = PUBLISHED.iter().map(|y| y.year).collect();
    let covered: Vec<i16> = china::years().collect();
    assert_eq!(covered, published);
}

#[test]
fn every_day_of_every_covered_year_matches_the_published_list() {
    let mut expect: HashMap<Date, DayReason> = HashMap::new();
    for y in PUBLISHED {
        for (name, dates) in y.off {
            for d in *dates {
                let prev = expect.insert(
                    date(d),
                    DayReason::Holiday {
                        name: name.to_string(),
                    },
                );
                assert!(prev.is_none(), "{d} listed twice in the test data");
            }
        }
        for (name, dates) in y.worked {
            for d in *dates {
                let prev = expect.insert(
                    date(d),
                    DayReason::AdjustedWorkday {
                        name: name.to_string(),
                    },
                );
                assert!(prev.is_none(), "{d} listed twice in the test data");
            }
        }
    }

    let cal = WorkingCalendar::china_mainland_standard();
    let first = *china::years().start();
    let last = *china::years().end();
    // A month either side: outside the covered years the base adds nothing.
    let from = Date::new(first - 1, 12, 1).unwrap();
    let to = Date::new(last + 1, 1, 31).unwrap();
    let mut checked = 0;
    for info in cal.days(from, to) {
        let weekend = matches!(info.date.weekday(), Weekday::Saturday | Weekday::Sunday);
        let want = expect.remove(&info.date).unwrap_or(if weekend {
            DayReason::Weekend
        } else {
            DayReason::Workday
        });
        let working = matches!(want, DayReason::Workday | DayReason::AdjustedWorkday { .. });
        assert_eq!(info.reason, want, "{}", info.date);
        assert_eq!(info.working, working, "{}", info.date);
        checked += 1;
    }
    assert!(
        expect.is_empty(),
        "dates outside the checked range: {:?}",
        expect.keys()
    );
    assert!(checked > 365 * 8);
}

#[test]
fn adjusted_working_days_are_weekend_days_in_the_test_data() {
    for y in PUBLISHED {
        for (_, dates) in y.worked {
            for d in *dates {
                assert!(
                    matches!(date(d).weekday(), Weekday::Saturday | Weekday::Sunday),
                    "{d}"
                );
            }
        }
    }
}

/// The example: 8 business hours from Friday 17:00 before the National Day week.
#[test]
fn eight_business_hours_from_friday_evening_before_national_day() {
    let cal = WorkingCalendar::china_mainland_standard();
    const H: i64 = 3600;
    // 2025: Friday 26 September, 17:00. One hour that day; Saturday 27 is off; Sunday 28 is
    // worked for the National Day break (调休), so the remaining 7 hours end there at 17:00.
    let start = beijing("2025-09-26T17:00");
    assert_eq!(cal.add_business(start, 8 * H), beijing("2025-09-28T17:00"));
    // Tuesday 30 September is the last working day; the break runs to 8 October.
    assert_eq!(
        cal.add_business(beijing("2025-09-30T17:00"), 8 * H),
        beijing("2025-10-09T17:00")
    );
    // 2026: Friday 25 September is Mid-Autumn, so the Friday before is the 18th; Sunday 20 is
    // worked for National Day.
    assert_eq!(
        cal.add_business(beijing("2026-09-18T17:00"), 8 * H),
        beijing("2026-09-20T17:00")
    );
    assert_eq!(
        cal.add_business(beijing("2026-09-30T17:00"), 8 * H),
        beijing("2026-10-08T17:00")
    );
    assert_eq!(
        cal.business_secs_between(beijing("2025-09-26T17:00"), beijing("2025-10-09T17:00")),
        32 * H, // 1 h on the 26th, the 28th–30th, 7 h on 9 October
    );
}
