//! Line charts for `report.html` as inline SVG (no script, nothing fetched): named series of
//! (x, y) points on axes with round ticks, a legend and an optional shaded band (a load run's
//! warm-up). A point without a value (`None`, NaN, infinite) breaks its series' line: it is
//! never drawn as 0. A run of points between gaps is one `<polyline>`, a lone point a dot.
//! Every text is escaped with [`esc`](crate::escape::esc), as in the rest of the page.

use std::fmt::Write;

use crate::escape::esc;

/// Colours of the series, in order (distinguishable, also in grey print).
const PALETTE: [&str; 8] = [
    "#0969da", "#bc4c00", "#cf222e", "#1a7f37", "#8250df", "#6e7781", "#bf8700", "#0598bc",
];

const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const PLOT_HEIGHT: f64 = 180.0;
/// Below the plot: tick labels and the x axis' label.
const BELOW: f64 = 44.0;
const LEGEND_ROW: f64 = 18.0;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    /// (x, y); a `None` y is a gap.
    pub points: Vec<(f64, Option<f64>)>,
    /// Drawn dashed (a second view of the same thing: the server's beside the client's).
    pub dashed: bool,
}

impl Series {
    pub(crate) fn new(name: impl Into<String>, points: Vec<(f64, Option<f64>)>) -> Self {
        Self {
            name: name.into(),
            points,
            dashed: false,
        }
    }

    pub(crate) fn dashed(self) -> Self {
        Self {
            dashed: true,
            ..self
        }
    }

    fn dash(&self) -> &'static str {
        if self.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        }
    }
}

/// A chart: what its axes measure, its series, and a shaded band of x with its label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chart {
    /// The `id` of the `<svg>`.
    pub id: String,
    /// What the chart shows, for screen readers (the page's caption says it to the eye).
    pub label: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub band: Option<(f64, f64, String)>,
}

/// Round ticks covering `lo..=hi`, about `target` of them: steps of 1, 2 or 5 times a power
/// of ten, the first at or below `lo`, the last at or above `hi`. Returns the ticks and the
/// step.
pub(crate) fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        // One value: a range around it.
        (lo - lo.abs() * 0.5, lo + lo.abs() * 0.5)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = magnitude
        * match raw / magnitude {
            n if n < 1.5 => 1.0,
            n if n < 3.0 => 2.0,
            n if n < 7.0 => 5.0,
            _ => 10.0,
        };
    let first = (lo / step).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    let ticks = (first..=last.max(first + 1))
        .map(|i| {
            let v = i as f64 * step;
            // -0 and 0.30000000000000004 read badly.
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect();
    (ticks, step)
}

/// A tick's label: as many decimals as the step needs, thousands as `k`.
fn tick_label(v: f64, step: f64) -> String {
    if step >= 1000.0 && v.abs() >= 1000.0 {
        return tick_label(v / 1000.0, step / 1000.0) + "k";
    }
    // A hair above the logarithm, so 0.1 computed as 0.0999… still means one decimal.
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// The runs of drawable points of a series: a point without a finite x and y ends a run.
fn runs(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(x, y) in points {
        match y.filter(|y| y.is_finite()) {
            Some(y) if x.is_finite() => out.last_mut().expect("never empty").push((x, y)),
            _ => {
                if !out.last().expect("never empty").is_empty() {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Legend entries placed in rows that fit the chart's width: (row, x) of each series.
fn legend_layout(series: &[Series]) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let (mut row, mut x) = (0, LEFT);
    for s in series {
        // 22 px of line and gap, about 6.5 px per character at 12 px, 18 px between entries.
        let w = 22.0 + s.name.chars().count() as f64 * 6.5 + 18.0;
        if x + w > WIDTH - RIGHT && x > LEFT {
            row += 1;
            x = LEFT;
        }
        out.push((row, x));
        x += w;
    }
    out
}

/// The chart as an `<svg>` element.
pub(crate) fn line_chart(chart: &Chart) -> String {
    let drawn: Vec<Vec<Vec<(f64, f64)>>> = chart.series.iter().map(|s| runs(&s.points)).collect();
    let all = || drawn.iter().flatten().flatten();
    let legend = legend_layout(&chart.series);
    let legend_rows = legend.iter().map(|(r, _)| r + 1).max().unwrap_or(0);
    let top = 10.0 + legend_rows as f64 * LEGEND_ROW;
    let height = top + PLOT_HEIGHT + BELOW;
    let (bottom, right) = (top + PLOT_HEIGHT, WIDTH - RIGHT);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-label=\"{label}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">",
        id = esc(&chart.id),
        label = esc(&chart.label),
    );

    // The axes' ranges: x over every point (and the band), y from 0 (or below, for
    // negative values) to a round value above the largest.
    let xs = all().map(|p| p.0);
    let (x_min, x_max) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let (y_min, y_max) = all().fold((0.0_f64, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if !x_min.is_finite() {
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" class=\"empty\">no data</text></svg>",
            x = WIDTH / 2.0,
            y = top + PLOT_HEIGHT / 2.0
        );
        return out;
    }
    let (x_lo, x_hi) = match &chart.band {
        Some((a, b, _)) if a.is_finite() && b.is_finite() => (x_min.min(*a), x_max.max(*b)),
        _ => (x_min, x_max),
    };
    let (x_ticks, x_step) = ticks(x_lo, x_hi, 10);
    let (y_ticks, y_step) = ticks(y_min, y_max.max(y_min), 5);
    let (x0, x1) = (x_ticks[0], x_ticks[x_ticks.len() - 1]);
    let (y0, y1) = (y_ticks[0], y_ticks[y_ticks.len() - 1]);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (right - LEFT);
    let py = |y: f64| bottom - (y - y0) / (y1 - y0) * PLOT_HEIGHT;

    if let Some((a, b, label)) = &chart.band
        && a.is_finite()
        && b.is_finite()
        && b > a
    {
        let _ = write!(
            out,
            "<rect class=\"band\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{PLOT_HEIGHT}\" fill=\"#eaeef2\"/>\
<text x=\"{tx:.1}\" y=\"{ty:.1}\" class=\"band-label\">{label}</text>",
            x = px(*a),
            w = px(*b) - px(*a),
            tx = px(*a) + 4.0,
            ty = top + 14.0,
            label = esc(label),
        );
    }
    // Grid and y ticks.
    for &t in &y_ticks {
        let y = py(t);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\" stroke-width=\"{w}\"/>\
<text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}</text>",
            w = if t == y0 { 1.5 } else { 0.6 },
            tx = LEFT - 6.0,
            ty = y + 4.0,
            label = tick_label(t, y_step),
        );
    }
    // The x axis and its ticks.
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\" stroke=\"#8c959f\"/>"
    );
    for &t in &x_ticks {
        let x = px(t);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom:.1}\" y2=\"{y2:.1}\" stroke=\"#8c959f\"/>\
<text x=\"{x:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{label}</text>",
            y2 = bottom + 4.0,
            ty = bottom + 17.0,
            label = tick_label(t, x_step),
        );
    }
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" class=\"axis-label\">{x_label}</text>\
<text transform=\"translate(14 {ly:.1}) rotate(-90)\" text-anchor=\"middle\" class=\"axis-label\">{y_label}</text>",
        x = (LEFT + right) / 2.0,
        y = bottom + 36.0,
        ly = (top + bottom) / 2.0,
        x_label = esc(&chart.x_label),
        y_label = esc(&chart.y_label),
    );
    // The series, then the legend.
    for (i, (s, runs)) in chart.series.iter().zip(&drawn).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            "<g class=\"series\" data-series=\"{name}\"><title>{name}</title>",
            name = esc(&s.name)
        );
        for run in runs {
            if let [(x, y)] = run.as_slice() {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                    px(*x),
                    py(*y)
                );
                continue;
            }
            let points = run
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(
                out,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} stroke-linejoin=\"round\" points=\"{points}\"/>",
                dash = s.dash()
            );
        }
        out.push_str("</g>");
    }
    for (i, (s, (row, x))) in chart.series.iter().zip(&legend).enumerate() {
        let y = 10.0 + *row as f64 * LEGEND_ROW + 4.0;
        let _ = write!(
            out,
            "<g class=\"legend\"><line x1=\"{x:.1}\" x2=\"{x2:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"3\"{dash}/>\
<text x=\"{tx:.1}\" y=\"{ty:.1}\">{name}</text></g>",
            color = PALETTE[i % PALETTE.len()],
            x2 = x + 16.0,
            tx = x + 22.0,
            ty = y + 4.0,
            name = esc(&s.name),
            dash = s.dash(),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            id: "c".into(),
            label: "a chart".into(),
            x_label: "seconds".into(),
            y_label: "ms".into(),
            series,
            band: None,
        }
    }

    /// The points of each `<polyline>`, in order, as pixel pairs.
    fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline")
            .skip(1)
            .map(|p| {
                let points = p.split("points=\"").nth(1).unwrap();
                points[..points.find('"').unwrap()]
                    .split(' ')
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_polyline_per_series_with_every_point_on_round_ticks() {
        let svg = line_chart(&chart(vec![
            Series::new(
                "p50",
                (0..5)
                    .map(|i| (f64::from(i), Some(f64::from(i) * 2.0)))
                    .collect(),
            ),
            Series::new(
                "p99",
                vec![(0.0, Some(3.0)), (2.0, Some(9.0)), (4.0, Some(7.5))],
            ),
        ]));
        let lines = polylines(&svg);
        assert_eq!(
            lines.iter().map(Vec::len).collect::<Vec<_>>(),
            [5, 3],
            "{svg}"
        );
        assert_eq!(svg.matches("<g class=\"series\"").count(), 2);
        assert_eq!(svg.matches("<g class=\"legend\"").count(), 2);
        // y from 0 to 10 in steps of 2: the largest value, 9, is below the top tick.
        for label in [">0<", ">2<", ">4<", ">10<"] {
            assert!(svg.contains(label), "tick {label}");
        }
        // Points rise left to right where the values do; x = 0 is on the y axis.
        let p50 = &lines[0];
        assert_eq!(p50[0].0, LEFT);
        assert!(p50.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 < w[0].1));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn gaps_break_the_line_and_are_never_drawn_as_zero() {
        let svg = line_chart(&chart(vec![Series::new(
            "p95",
            vec![
                (0.0, Some(4.0)),
                (1.0, None),
                (2.0, Some(3.0)),
                (3.0, Some(5.0)),
                (4.0, Some(f64::NAN)),
                (5.0, Some(2.0)),
                (6.0, Some(2.5)),
            ],
        )]));
        let lines = polylines(&svg);
        assert_eq!(
            lines.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 2],
            "{svg}"
        );
        // The lone first point is a dot.
        assert_eq!(svg.matches("<circle").count(), 1);
        // Nothing at y = 0 (the plot's bottom edge): every value here is above 2.
        let zero = 10.0 + LEGEND_ROW + PLOT_HEIGHT;
        assert!(
            lines.iter().flatten().all(|&(_, y)| y < zero - 1.0),
            "{lines:?}"
        );
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn a_chart_without_values_says_so() {
        let svg = line_chart(&chart(vec![Series::new("p95", vec![(0.0, None)])]));
        assert!(svg.contains("no data"));
        assert!(!svg.contains("<polyline") && !svg.contains("NaN"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let close = |got: Vec<f64>, want: &[f64]| {
            got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9)
        };
        let evens: Vec<f64> = (0..=10).map(|i| f64::from(i) * 2.0).collect();
        assert!(close(ticks(0.0, 19.0, 10).0, &evens));
        assert!(close(
            ticks(0.0, 88.0, 5).0,
            &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        ));
        let (t, step) = ticks(0.0, 0.42, 5);
        assert!((step - 0.1).abs() < 1e-12, "{step}");
        assert!(close(t, &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5]));
        assert!(close(ticks(0.0, 0.0, 5).0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        assert!(ticks(7.0, 7.0, 5).0.len() >= 2);
        assert_eq!(tick_label(0.300_000_000_000_000_04, 0.1), "0.3");
        assert_eq!(tick_label(0.6, 0.2), "0.6");
        assert_eq!(tick_label(15.0, 5.0), "15");
        assert_eq!(tick_label(12_000.0, 2000.0), "12k");
    }

    #[test]
    fn a_long_legend_wraps_and_the_plot_moves_down() {
        let many: Vec<Series> = (0..6)
            .map(|i| {
                Series::new(
                    format!("service number {i} (server)"),
                    vec![(0.0, Some(1.0))],
                )
            })
            .collect();
        let layout = legend_layout(&many);
        assert!(layout.iter().any(|(row, _)| *row > 0), "{layout:?}");
        assert!(layout.iter().all(|(_, x)| *x < WIDTH - RIGHT));
        let svg = line_chart(&chart(many));
        let one_row = 10.0 + LEGEND_ROW + PLOT_HEIGHT + BELOW;
        assert!(
            !svg.contains(&format!("height=\"{one_row}\"")),
            "taller than one row"
        );
    }

    #[test]
    fn names_and_labels_are_escaped() {
        let mut c = chart(vec![Series::new(
            "<b>&",
            vec![(0.0, Some(1.0)), (1.0, Some(2.0))],
        )]);
        c.band = Some((0.0, 0.5, "warm-up <2s>".into()));
        let svg = line_chart(&c);
        assert!(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"));
        assert!(svg.contains("warm-up &lt;2s&gt;"));
        assert!(svg.contains("class=\"band\""));
    }
}
