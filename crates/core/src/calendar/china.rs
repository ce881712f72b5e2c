//! The State Council's public holidays and adjusted working days (调休) for mainland China,
//! one notice a year (国务院办公厅关于某年部分节假日安排的通知).
//!
//! The schedule is decreed a year at a time and cannot be derived from the lunar calendar, so
//! it is a table. Outside [`years`] the China base adds nothing: such dates are ordinary
//! weekdays and weekends until the table is extended (a data-only change, with the same lists
//! added to `tests/china_calendar.rs`).
//!
//! A notice can reach into the previous year (the 2019 New Year's Day break began on
//! 2018-12-30, with 2018-12-29 worked); such dates belong to the notice's year here.
//! 2020's Spring Festival is as extended on 2020-01-27 (to Feb 2, so Feb 1 was no longer
//! worked), and 2019's Labour Day as revised on 2019-03-22.

use jiff::civil::{date, Date};
use std::ops::RangeInclusive;

/// A festival as the notices name it; years where two festivals merged into one break name
/// both, in the notice's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Festival {
    NewYearsDay,
    SpringFestival,
    Qingming,
    LabourDay,
    DragonBoat,
    MidAutumn,
    NationalDay,
    /// 国庆节、中秋节 (2020, 2025).
    NationalDayMidAutumn,
    /// 中秋节、国庆节 (2023).
    MidAutumnNationalDay,
}

impl Festival {
    pub const ALL: &'static [Festival] = &[
        Festival::NewYearsDay,
        Festival::SpringFestival,
        Festival::Qingming,
        Festival::LabourDay,
        Festival::DragonBoat,
        Festival::MidAutumn,
        Festival::NationalDay,
        Festival::NationalDayMidAutumn,
        Festival::MidAutumnNationalDay,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            Festival::NewYearsDay => "元旦",
            Festival::SpringFestival => "春节",
            Festival::Qingming => "清明节",
            Festival::LabourDay => "劳动节",
            Festival::DragonBoat => "端午节",
            Festival::MidAutumn => "中秋节",
            Festival::NationalDay => "国庆节",
            Festival::NationalDayMidAutumn => "国庆节、中秋节",
            Festival::MidAutumnNationalDay => "中秋节、国庆节",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            Festival::NewYearsDay => "New Year's Day",
            Festival::SpringFestival => "Spring Festival",
            Festival::Qingming => "Qingming Festival",
            Festival::LabourDay => "Labour Day",
            Festival::DragonBoat => "Dragon Boat Festival",
            Festival::MidAutumn => "Mid-Autumn Festival",
            Festival::NationalDay => "National Day",
            Festival::NationalDayMidAutumn => "National Day and Mid-Autumn Festival",
            Festival::MidAutumnNationalDay => "Mid-Autumn Festival and National Day",
        }
    }

    /// The festival whose Chinese name this is, e.g. to translate a [`super::DayReason`].
    pub fn from_zh(name: &str) -> Option<Festival> {
        Festival::ALL.iter().copied().find(|f| f.zh() == name)
    }
}

/// One break of one notice: the days off, first to last, and the weekend days worked for it.
#[derive(Debug, Clone, Copy)]
pub struct Break {
    pub year: i16,
    pub festival: Festival,
    pub first: Date,
    pub last: Date,
    pub worked: &'static [Date],
}

const fn b(
    year: i16,
    festival: Festival,
    first: (i16, i8, i8),
    last: (i16, i8, i8),
    worked: &'static [Date],
) -> Break {
    Break {
        year,
        festival,
        first: date(first.0, first.1, first.2),
        last: date(last.0, last.1, last.2),
        worked,
    }
}

use Festival::*;

#[rustfmt::skip]
static SCHEDULE: &[Break] = &[
    // 2019: 国办发明电〔2018〕15号, Labour Day revised by 国办发明电〔2019〕2号.
    b(2019, NewYearsDay, (2018, 12, 30), (2019, 1, 1), &[date(2018, 12, 29)]),
    b(2019, SpringFestival, (2019, 2, 4), (2019, 2, 10), &[date(2019, 2, 2), date(2019, 2, 3)]),
    b(2019, Qingming, (2019, 4, 5), (2019, 4, 5), &[]),
    b(2019, LabourDay, (2019, 5, 1), (2019, 5, 4), &[date(2019, 4, 28), date(2019, 5, 5)]),
    b(2019, DragonBoat, (2019, 6, 7), (2019, 6, 7), &[]),
    b(2019, MidAutumn, (2019, 9, 13), (2019, 9, 13), &[]),
    b(2019, NationalDay, (2019, 10, 1), (2019, 10, 7), &[date(2019, 9, 29), date(2019, 10, 12)]),
    // 2020: 国办发明电〔2019〕16号, Spring Festival extended by 国办发明电〔2020〕1号.
    b(2020, NewYearsDay, (2020, 1, 1), (2020, 1, 1), &[]),
    b(2020, SpringFestival, (2020, 1, 24), (2020, 2, 2), &[date(2020, 1, 19)]),
    b(2020, Qingming, (2020, 4, 4), (2020, 4, 6), &[]),
    b(2020, LabourDay, (2020, 5, 1), (2020, 5, 5), &[date(2020, 4, 26), date(2020, 5, 9)]),
    b(2020, DragonBoat, (2020, 6, 25), (2020, 6, 27), &[date(2020, 6, 28)]),
    b(2020, NationalDayMidAutumn, (2020, 10, 1), (2020, 10, 8), &[date(2020, 9, 27), date(2020, 10, 10)]),
    // 2021
    b(2021, NewYearsDay, (2021, 1, 1), (2021, 1, 3), &[]),
    b(2021, SpringFestival, (2021, 2, 11), (2021, 2, 17), &[date(2021, 2, 7), date(2021, 2, 20)]),
    b(2021, Qingming, (2021, 4, 3), (2021, 4, 5), &[]),
    b(2021, LabourDay, (2021, 5, 1), (2021, 5, 5), &[date(2021, 4, 25), date(2021, 5, 8)]),
    b(2021, DragonBoat, (2021, 6, 12), (2021, 6, 14), &[]),
    b(2021, MidAutumn, (2021, 9, 19), (2021, 9, 21), &[date(2021, 9, 18)]),
    b(2021, NationalDay, (2021, 10, 1), (2021, 10, 7), &[date(2021, 9, 26), date(2021, 10, 9)]),
    // 2022
    b(2022, NewYearsDay, (2022, 1, 1), (2022, 1, 3), &[]),
    b(2022, SpringFestival, (2022, 1, 31), (2022, 2, 6), &[date(2022, 1, 29), date(2022, 1, 30)]),
    b(2022, Qingming, (2022, 4, 3), (2022, 4, 5), &[date(2022, 4, 2)]),
    b(2022, LabourDay, (2022, 4, 30), (2022, 5, 4), &[date(2022, 4, 24), date(2022, 5, 7)]),
    b(2022, DragonBoat, (2022, 6, 3), (2022, 6, 5), &[]),
    b(2022, MidAutumn, (2022, 9, 10), (2022, 9, 12), &[]),
    b(2022, NationalDay, (2022, 10, 1), (2022, 10, 7), &[date(2022, 10, 8), date(2022, 10, 9)]),
    // 2023
    b(2023, NewYearsDay, (2022, 12, 31), (2023, 1, 2), &[]),
    b(2023, SpringFestival, (2023, 1, 21), (2023, 1, 27), &[date(2023, 1, 28), date(2023, 1, 29)]),
    b(2023, Qingming, (2023, 4, 5), (2023, 4, 5), &[]),
    b(2023, LabourDay, (2023, 4, 29), (2023, 5, 3), &[date(2023, 4, 23), date(2023, 5, 6)]),
    b(2023, DragonBoat, (2023, 6, 22), (2023, 6, 24), &[date(2023, 6, 25)]),
    b(2023, MidAutumnNationalDay, (2023, 9, 29), (2023, 10, 6), &[date(2023, 10, 7), date(2023, 10, 8)]),
    // 2024
    b(2024, NewYearsDay, (2024, 1, 1), (2024, 1, 1), &[]),
    b(2024, SpringFestival, (2024, 2, 10), (2024, 2, 17), &[date(2024, 2, 4), date(2024, 2, 18)]),
    b(2024, Qingming, (2024, 4, 4), (2024, 4, 6), &[date(2024, 4, 7)]),
    b(2024, LabourDay, (2024, 5, 1), (2024, 5, 5), &[date(2024, 4, 28), date(2024, 5, 11)]),
    b(2024, DragonBoat, (2024, 6, 10), (2024, 6, 10), &[]),
    b(2024, MidAutumn, (2024, 9, 15), (2024, 9, 17), &[date(2024, 9, 14)]),
    b(2024, NationalDay, (2024, 10, 1), (2024, 10, 7), &[date(2024, 9, 29), date(2024, 10, 12)]),
    // 2025: the first year with the longer Spring Festival and Labour Day of the 2024 rules.
    b(2025, NewYearsDay, (2025, 1, 1), (2025, 1, 1), &[]),
    b(2025, SpringFestival, (2025, 1, 28), (2025, 2, 4), &[date(2025, 1, 26), date(2025, 2, 8)]),
    b(2025, Qingming, (2025, 4, 4), (2025, 4, 6), &[]),
    b(2025, LabourDay, (2025, 5, 1), (2025, 5, 5), &[date(2025, 4, 27)]),
    b(2025, DragonBoat, (2025, 5, 31), (2025, 6, 2), &[]),
    b(2025, NationalDayMidAutumn, (2025, 10, 1), (2025, 10, 8), &[date(2025, 9, 28), date(2025, 10, 11)]),
    // 2026: published 2025-11-04.
    b(2026, NewYearsDay, (2026, 1, 1), (2026, 1, 3), &[date(2026, 1, 4)]),
    b(2026, SpringFestival, (2026, 2, 15), (2026, 2, 23), &[date(2026, 2, 14), date(2026, 2, 28)]),
    b(2026, Qingming, (2026, 4, 4), (2026, 4, 6), &[]),
    b(2026, LabourDay, (2026, 5, 1), (2026, 5, 5), &[date(2026, 5, 9)]),
    b(2026, DragonBoat, (2026, 6, 19), (2026, 6, 21), &[]),
    b(2026, MidAutumn, (2026, 9, 25), (2026, 9, 27), &[]),
    b(2026, NationalDay, (2026, 10, 1), (2026, 10, 7), &[date(2026, 9, 20), date(2026, 10, 10)]),
];

/// The notice years the table holds.
pub fn years() -> RangeInclusive<i16> {
    let first = SCHEDULE.first().map_or(0, |b| b.year);
    let last = SCHEDULE.last().map_or(-1, |b| b.year);
    first..=last
}

pub fn breaks() -> &'static [Break] {
    SCHEDULE
}

/// Every date off, with its festival.
pub fn holidays() -> impl Iterator<Item = (Date, Festival)> {
    SCHEDULE.iter().flat_map(|b| {
        b.first
            .series(jiff::Span::new().days(1))
            .take_while(move |d| *d <= b.last)
            .map(move |d| (d, b.festival))
    })
}

/// Every weekend date worked (调休), with the festival it pays for.
pub fn adjusted_workdays() -> impl Iterator<Item = (Date, Festival)> {
    SCHEDULE
        .iter()
        .flat_map(|b| b.worked.iter().map(move |&d| (d, b.festival)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Weekday;

    #[test]
    fn the_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for (d, f) in holidays() {
            assert!(seen.insert(d), "{d} listed twice ({})", f.zh());
        }
        for (d, f) in adjusted_workdays() {
            assert!(seen.insert(d), "{d} listed twice ({})", f.zh());
            // Adjusted working days are always weekend days.
            assert!(
                matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday),
                "{d} ({}) is not a weekend day",
                f.zh()
            );
        }
        for b in breaks() {
            assert!(b.first <= b.last);
            assert_eq!(b.last.year(), b.year);
        }
        assert_eq!(years(), 2019..=2026);
        for f in Festival::ALL {
            assert_eq!(Festival::from_zh(f.zh()), Some(*f));
        }
    }
}
