//! The monthly revenue chart as server-rendered SVG: bars for money received, a line for money
//! invoiced, a labelled axis, and a title and description for screen readers. Colours come
//! from CSS classes, so the chart follows the light and dark themes.

use std::fmt::Write;

/// One month of the chart.
pub struct Bar {
    pub label: String,
    pub paid: i64,
    pub invoiced: i64,
}

const WIDTH: i64 = 720;
const HEIGHT: i64 = 260;
const LEFT: i64 = 72;
const BOTTOM: i64 = 32;
const TOP: i64 = 16;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(max: i64) -> i64 {
    if max <= 0 {
        return 1;
    }
    let mut step = 1i64;
    while step.saturating_mul(10) <= max {
        step = step.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if step.saturating_mul(m) >= max {
            return step.saturating_mul(m);
        }
    }
    step.saturating_mul(10)
}

/// The chart; `money` formats axis values, `title` and `description` are already translated.
pub fn revenue_svg(
    bars: &[Bar],
    title: &str,
    description: &str,
    money: impl Fn(i64) -> String,
) -> String {
    let max = bars
        .iter()
        .map(|b| b.paid.max(b.invoiced))
        .max()
        .unwrap_or(0);
    let top_value = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - 8;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: i64| -> i64 {
        let v = v.clamp(0, top_value);
        TOP + plot_h - ((v as i128 * plot_h as i128) / top_value as i128) as i64
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        escape(title),
        escape(description)
    );
    for i in 0..=4 {
        let value = top_value * i / 4;
        let y = y_of(value);
        let _ = write!(
            svg,
            r#"<line class="chart-grid" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}"/><text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
            WIDTH - 8,
            LEFT - 6,
            y + 4,
            escape(&money(value))
        );
    }
    let n = bars.len().max(1) as i64;
    let slot = plot_w / n;
    let bar_w = (slot * 6 / 10).max(2);
    let mut line = String::new();
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as i64 + (slot - bar_w) / 2;
        let y = y_of(bar.paid);
        let _ = write!(
            svg,
            r#"<rect class="chart-bar" x="{x}" y="{y}" width="{bar_w}" height="{}"><title>{}: {}</title></rect>"#,
            TOP + plot_h - y,
            escape(&bar.label),
            escape(&money(bar.paid))
        );
        let cx = x + bar_w / 2;
        let _ = write!(
            line,
            "{}{cx},{} ",
            if i == 0 { "M" } else { "L" },
            y_of(bar.invoiced)
        );
        // Every label when they fit, else every other one.
        if n <= 12 || i % 2 == 0 {
            let _ = write!(
                svg,
                r#"<text class="chart-axis" x="{cx}" y="{}" text-anchor="middle">{}</text>"#,
                HEIGHT - 10,
                escape(&bar.label)
            );
        }
    }
    if !bars.is_empty() {
        let _ = write!(svg, r#"<path class="chart-line" d="{}"/>"#, line.trim_end());
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(120_000), 200_000);
        assert_eq!(nice_ceiling(450_000), 500_000);
        assert_eq!(nice_ceiling(1_000_000), 1_000_000);
    }

    #[test]
    fn bars_scale_to_the_axis_and_labels_are_escaped() {
        let bars = vec![
            Bar {
                label: "<Jan>".into(),
                paid: 50,
                invoiced: 100,
            },
            Bar {
                label: "Feb".into(),
                paid: 100,
                invoiced: 100,
            },
        ];
        let svg = revenue_svg(&bars, "Revenue", "Two months", |v| v.to_string());
        assert!(svg.contains("&lt;Jan&gt;"));
        assert!(!svg.contains("<Jan>"));
        // Plot height 212: the full bar is 212 high, the half bar 106.
        assert!(svg.contains(r#"height="212""#), "{svg}");
        assert!(svg.contains(r#"height="106""#), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
