//! A line chart of up to the last hour as inline SVG: no chart library,
//! nothing fetched at run time. The lines' colours come from `style/` by class.

use leptos::prelude::*;

use crate::charts::{nice_ceiling, Point};
use crate::format::duration_words;

/// One line: its name in the legend, its CSS class and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: &'static str,
    pub class: &'static str,
    pub points: Vec<Point>,
}

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = WIDTH - 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = HEIGHT - 24.0;

#[component]
pub fn LineChart(
    /// Id of the chart's section.
    id: &'static str,
    title: &'static str,
    /// Unit after each value ("%", "/min").
    unit: &'static str,
    /// The top of the scale when it is fixed (100 for percentages).
    #[prop(optional)]
    fixed_max: Option<f64>,
    /// What to say while no series has a point.
    empty: &'static str,
    /// The moment the right edge stands for (Unix ms).
    end_ms: u64,
    /// How long before `end_ms` the left edge stands for.
    span_ms: u64,
    series: Vec<Series>,
) -> impl IntoView {
    let heading = format!("{id}-title");
    let labelled_by = heading.clone();
    let highest = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let max = fixed_max.unwrap_or_else(|| nice_ceiling(highest));
    let has_points = series.iter().any(|s| !s.points.is_empty());
    let summary =
        series.iter().map(|s| format!("{}: {}", s.label, latest(&s.points, unit))).collect::<Vec<_>>().join(", ");
    let plot = has_points.then(|| {
        let lines = series
            .iter()
            .map(|s| {
                let points: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|(at, _)| end_ms.saturating_sub(*at) <= span_ms)
                    .map(|&(at, value)| (x(at, end_ms, span_ms), y(value, max)))
                    .collect();
                let path = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
                let last = points.last().copied();
                view! {
                    <g class=format!("series {}", s.class)>
                        <polyline points=path/>
                        {last.map(|(cx, cy)| view! { <circle cx=format!("{cx:.1}") cy=format!("{cy:.1}") r="3"/> })}
                    </g>
                }
            })
            .collect_view();
        view! {
            <svg class="chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=format!("{title} over the last {}. Now: {summary}", duration_words(span_ms / 1000))>
                <line class="axis" x1=LEFT y1=TOP x2=RIGHT y2=TOP/>
                <line class="axis" x1=LEFT y1=BOTTOM x2=RIGHT y2=BOTTOM/>
                <text class="tick" x=LEFT - 6.0 y=TOP + 4.0 text-anchor="end">{round(max)}</text>
                <text class="tick" x=LEFT - 6.0 y=BOTTOM + 4.0 text-anchor="end">"0"</text>
                <text class="tick" x=LEFT y=HEIGHT - 6.0>{format!("{} ago", duration_words(span_ms / 1000))}</text>
                <text class="tick" x=RIGHT y=HEIGHT - 6.0 text-anchor="end">"now"</text>
                {lines}
            </svg>
        }
    });
    view! {
        <section class="card chart-card" id=id aria-labelledby=labelled_by>
            <h2 id=heading>{title}</h2>
            {match plot {
                Some(plot) => plot.into_any(),
                None => view! { <p class="empty">{empty}</p> }.into_any(),
            }}
            <ul class="legend">
                {series
                    .iter()
                    .map(|s| view! {
                        <li class=format!("legend-item {}", s.class) data-series=s.label>
                            <span class="swatch"></span>
                            {s.label}": "<strong>{latest(&s.points, unit)}</strong>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

fn x(at_ms: u64, end_ms: u64, span_ms: u64) -> f64 {
    let age = end_ms.saturating_sub(at_ms) as f64;
    RIGHT - age / span_ms.max(1) as f64 * (RIGHT - LEFT)
}

fn y(value: f64, max: f64) -> f64 {
    BOTTOM - value.clamp(0.0, max) / max * (BOTTOM - TOP)
}

fn latest(points: &[Point], unit: &str) -> String {
    points.last().map_or_else(|| "—".to_owned(), |&(_, value)| format!("{}{unit}", round(value)))
}

/// Whole numbers as such, small ones with one decimal.
fn round(value: f64) -> String {
    if value.fract() == 0.0 || value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
