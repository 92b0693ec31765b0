//! Knobs: how long each step takes and how often it fails.
//!
//! Why: the point of the seed is finding the slow step in a trace. Each step sleeps for a random
//! time within a realistic range, and an operator can make one step slower (`--slow
//! inventory=200ms`) or flaky (`--fail address=2%`) and then watch it stand out in the journey
//! view. `time_scale` shrinks every range for tests without touching the knobs' meaning.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A step of the pipeline that takes time and may fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Placing an order (website, onsite, direct-kitchen).
    Place,
    /// `validate-address` in order-validation.
    Address,
    /// `validate-name` in order-validation.
    Name,
    /// `validate-inventory` in order-validation.
    Inventory,
    /// Cooking in kitchen-service.
    Cook,
}

impl Step {
    /// Every step, in pipeline order.
    pub const ALL: [Step; 5] = [
        Step::Place,
        Step::Address,
        Step::Name,
        Step::Inventory,
        Step::Cook,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Place => "place",
            Self::Address => "address",
            Self::Name => "name",
            Self::Inventory => "inventory",
            Self::Cook => "cook",
        }
    }

    /// The usual time range of the step, before scaling and slowing.
    pub fn default_range(self) -> (Duration, Duration) {
        let ms = Duration::from_millis;
        match self {
            Self::Place => (ms(50), ms(400)),
            Self::Address => (ms(10), ms(80)),
            Self::Name => (ms(2), ms(15)),
            Self::Inventory => (ms(20), ms(250)),
            Self::Cook => (ms(300), ms(1500)),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = KnobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| KnobError::UnknownStep(s.to_owned()))
    }
}

/// A knob that could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KnobError {
    /// Not `step=value`.
    #[error("expected STEP=VALUE, got {0:?}")]
    Shape(String),
    /// No such step.
    #[error("unknown step {0:?}; steps are place, address, name, inventory, cook")]
    UnknownStep(String),
    /// A duration that is not `<number><unit>` with unit `us`, `ms`, `s` or `m`.
    #[error("invalid duration {0:?}; write e.g. 200ms, 1.5s or 2m")]
    Duration(String),
    /// A probability that is not `<number>%` within 0..=100, or a fraction within 0..=1.
    #[error("invalid probability {0:?}; write e.g. 2% or 0.02")]
    Probability(String),
    /// A negative or non-finite time scale.
    #[error("invalid time scale {0}; it must be a finite number >= 0")]
    Scale(f64),
}

/// `--slow STEP=DURATION`: extra time added to every run of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slow {
    /// Which step.
    pub step: Step,
    /// How much longer it takes.
    pub extra: Duration,
}

impl FromStr for Slow {
    type Err = KnobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (step, value) = split(s)?;
        Ok(Self {
            step,
            extra: parse_duration(value)?,
        })
    }
}

/// `--fail STEP=PROBABILITY`: how often a step fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fail {
    /// Which step.
    pub step: Step,
    /// Probability within 0..=1.
    pub probability: f64,
}

impl FromStr for Fail {
    type Err = KnobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (step, value) = split(s)?;
        Ok(Self {
            step,
            probability: parse_probability(value)?,
        })
    }
}

fn split(s: &str) -> Result<(Step, &str), KnobError> {
    let (step, value) = s
        .split_once('=')
        .ok_or_else(|| KnobError::Shape(s.to_owned()))?;
    Ok((step.parse()?, value.trim()))
}

/// Parses `250ms`, `1.5s`, `2m`, `500us` (a bare number means milliseconds).
pub fn parse_duration(s: &str) -> Result<Duration, KnobError> {
    let bad = || KnobError::Duration(s.to_owned());
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "us" | "µs" => number / 1_000_000.0,
        "ms" | "" => number / 1_000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

fn parse_probability(s: &str) -> Result<f64, KnobError> {
    let bad = || KnobError::Probability(s.to_owned());
    let p = match s.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.parse::<f64>().map_err(|_| bad())?,
    };
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(bad())
    }
}

/// Every step's timing and failure settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    scale: f64,
    slow: [Duration; 5],
    fail: [f64; 5],
}

impl Default for Knobs {
    /// Default ranges, nothing slowed, nothing failing.
    fn default() -> Self {
        Self {
            scale: 1.0,
            slow: [Duration::ZERO; 5],
            fail: [0.0; 5],
        }
    }
}

impl Knobs {
    /// Multiplies every step's usual range by `scale` (0 makes steps instant, apart from
    /// `--slow`). Default 1.
    pub fn with_time_scale(mut self, scale: f64) -> Result<Self, KnobError> {
        if !scale.is_finite() || scale < 0.0 {
            return Err(KnobError::Scale(scale));
        }
        self.scale = scale;
        Ok(self)
    }

    /// Adds extra time to a step (repeated knobs for one step add up).
    pub fn with_slow(mut self, slow: Slow) -> Self {
        self.slow[slow.step.index()] += slow.extra;
        self
    }

    /// Sets a step's failure probability (the last knob for a step wins).
    pub fn with_fail(mut self, fail: Fail) -> Self {
        self.fail[fail.step.index()] = fail.probability;
        self
    }

    /// How long the next run of `step` takes: uniform within its scaled range, plus `--slow`.
    pub fn duration(&self, step: Step) -> Duration {
        let (low, high) = step.default_range();
        let span = high.saturating_sub(low).as_secs_f64();
        let base = low.as_secs_f64() + span * fastrand::f64();
        Duration::from_secs_f64(base * self.scale) + self.slow[step.index()]
    }

    /// Whether the next run of `step` fails.
    pub fn fails(&self, step: Step) -> bool {
        let p = self.fail[step.index()];
        p > 0.0 && fastrand::f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slow_and_fail() {
        let slow: Slow = "inventory=200ms".parse().unwrap();
        assert_eq!(slow.step, Step::Inventory);
        assert_eq!(slow.extra, Duration::from_millis(200));
        let fail: Fail = "address=2%".parse().unwrap();
        assert_eq!(fail.step, Step::Address);
        assert!((fail.probability - 0.02).abs() < 1e-9);
        assert_eq!("cook=1".parse::<Fail>().unwrap().probability, 1.0);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(matches!(
            "sauce=2ms".parse::<Slow>(),
            Err(KnobError::UnknownStep(_))
        ));
        assert!(matches!("cook".parse::<Slow>(), Err(KnobError::Shape(_))));
        assert!(matches!(
            "cook=2 weeks".parse::<Slow>(),
            Err(KnobError::Duration(_))
        ));
        assert!(matches!(
            "cook=120%".parse::<Fail>(),
            Err(KnobError::Probability(_))
        ));
        assert!(Knobs::default().with_time_scale(-1.0).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("40").unwrap(), Duration::from_millis(40));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
    }

    #[test]
    fn slow_adds_to_the_scaled_range() {
        let knobs = Knobs::default()
            .with_time_scale(0.0)
            .unwrap()
            .with_slow("cook=30ms".parse().unwrap())
            .with_slow("cook=20ms".parse().unwrap());
        assert_eq!(knobs.duration(Step::Cook), Duration::from_millis(50));
        assert_eq!(knobs.duration(Step::Address), Duration::ZERO);
        let (low, high) = Step::Cook.default_range();
        let d = Knobs::default().duration(Step::Cook);
        assert!(d >= low && d <= high);
    }

    #[test]
    fn certain_and_impossible_failures() {
        let knobs = Knobs::default().with_fail("name=100%".parse().unwrap());
        assert!((0..100).all(|_| knobs.fails(Step::Name)));
        assert!((0..100).all(|_| !knobs.fails(Step::Address)));
    }
}
