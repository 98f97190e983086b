//! Times the output-VAT report's PDF form on a synthetic month, the way the issue measures it
//! (100,000 documents, about 4,000 pages), without a server or a database:
//!
//! ```text
//! cargo run --release -p satang-documents --example report_timing -- [rows] [repeats] [out.pdf]
//! ```
//!
//! Buyers are drawn like the bench's generated book (Thai farms and co-operatives with a
//! number, about 30 % English names, most with a tax id, some branches), so names rarely
//! repeat whole but their words do. Prints each run, then the fastest and the median.

use std::time::Instant;

use chrono::NaiveDate;
use satang_documents::{OutputVatDocument, OutputVatLine, ReportSeller, render_output_vat};

/// The bench book's Thai name forms: (before the product, after the place and number).
const THAI_FORMS: [(&str, &str); 7] = [
    ("สหกรณ์การเกษตร", " จำกัด"),
    ("บริษัท ฟาร์ม", " จำกัด"),
    ("ห้างหุ้นส่วนจำกัด ไร่", ""),
    ("บริษัท สวน", " จำกัด"),
    ("บริษัท ", " จำกัด"),
    ("วิสาหกิจชุมชน", ""),
    ("กลุ่มเกษตรกร", ""),
];
const PRODUCTS: [&str; 24] = [
    "ข้าวหอมมะลิ",
    "ทุเรียน",
    "มังคุด",
    "ลำไย",
    "ยางพารา",
    "มันสำปะหลัง",
    "อ้อย",
    "กาแฟ",
    "ชา",
    "กุ้ง",
    "ไก่ไข่",
    "โคนม",
    "สุกร",
    "ผักอินทรีย์",
    "เห็ด",
    "มะม่วง",
    "ปาล์มน้ำมัน",
    "ข้าวโพด",
    "ส้มโอ",
    "สับปะรด",
    "กล้วยไม้",
    "มะพร้าว",
    "ลิ้นจี่",
    "สตรอว์เบอร์รี",
];
const PLACES: [&str; 23] = [
    "บ้านนา",
    "ดอยแม่สลอง",
    "ทุ่งกุลา",
    "บางปะกง",
    "แม่ริม",
    "สันทราย",
    "เขาใหญ่",
    "วังน้ำเขียว",
    "ท่าใหม่",
    "ขลุง",
    "หลังสวน",
    "ท่าศาลา",
    "ดอยสะเก็ด",
    "บ่อพลอย",
    "สามพราน",
    "ดำเนินสะดวก",
    "หนองคาย",
    "ภูเรือ",
    "เกาะสมุย",
    "พิมาย",
    "แม่แตง",
    "บ้านแพ้ว",
    "ลำลูกกา",
];
const LATIN_ADJECTIVES: [&str; 12] = [
    "Green", "Golden", "Happy", "Royal", "Sunny", "Siam", "Northern", "Silver", "Lotus", "Emerald",
    "Misty", "Blue",
];
const LATIN_NOUNS: [&str; 10] = [
    "Valley", "Hill", "Field", "Garden", "River", "Meadow", "Highland", "Orchard", "Delta", "Farm",
];
const LATIN_PRODUCTS: [&str; 12] = [
    "Durian",
    "Rice",
    "Mango",
    "Coffee",
    "Tea",
    "Orchid",
    "Shrimp",
    "Rubber",
    "Cassava",
    "Longan",
    "Coconut",
    "Pineapple",
];

/// A small deterministic generator (SplitMix64), so every run draws the same month.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

fn month(rows: usize) -> OutputVatDocument {
    let mut draw = Draw(2030);
    let lines: Vec<OutputVatLine> = (1..=rows)
        .map(|seq| {
            let number = 1 + draw.below(9999);
            let buyer_name = if draw.below(10) < 3 {
                let adjective = LATIN_ADJECTIVES[draw.below(12) as usize];
                let noun = LATIN_NOUNS[draw.below(10) as usize];
                let product = LATIN_PRODUCTS[draw.below(12) as usize];
                format!("{adjective} {noun} {product} {number} Co., Ltd.")
            } else {
                let (prefix, suffix) = THAI_FORMS[draw.below(7) as usize];
                let product = PRODUCTS[draw.below(24) as usize];
                let place = PLACES[draw.below(23) as usize];
                format!("{prefix}{product}{place} {number}{suffix}")
            };
            let buyer_tax_id =
                (draw.below(100) < 85).then(|| format!("0105{:09}", draw.below(1_000_000_000)));
            let branch = match &buyer_tax_id {
                None => String::new(),
                Some(_) if draw.below(10) == 0 => "สาขาที่ 00001".to_owned(),
                Some(_) => "สำนักงานใหญ่".to_owned(),
            };
            let sign = if draw.below(50) == 0 { -1 } else { 1 };
            let base = sign * (10_000 + draw.below(5_000_000) as i64);
            let vat = base * 7 / 100;
            OutputVatLine {
                seq,
                date: NaiveDate::from_ymd_opt(2030, 3, 1 + (seq * 31 / (rows + 1)) as u32)
                    .expect("a day of March"),
                number: format!("RT-2030-{seq:06}"),
                buyer_name,
                buyer_tax_id,
                branch,
                base_amount: base,
                vat_amount: vat,
                total: base + vat,
            }
        })
        .collect();
    OutputVatDocument {
        seller: ReportSeller {
            name: "บริษัท สตางค์ซอฟต์ จำกัด".into(),
            tax_id: Some("0105557000126".into()),
            establishment: "สำนักงานใหญ่".into(),
        },
        month: NaiveDate::from_ymd_opt(2030, 3, 1).expect("March"),
        total_base: lines.iter().map(|l| l.base_amount).sum(),
        total_vat: lines.iter().map(|l| l.vat_amount).sum(),
        total: lines.iter().map(|l| l.total).sum(),
        lines,
    }
}

/// CPU seconds (user and system) each thread of the process has used so far, by thread id,
/// from `/proc/self/task/*/stat` in clock ticks of 1/100 s; empty where there is no `/proc`.
/// The machine is shared, so the wall time says as much about the neighbours as about the
/// renderer: the main thread's CPU time is the critical path on an idle machine, as long as
/// the other threads' work fits beside it on the other cores.
fn thread_cpu() -> Vec<(String, f64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // The fields after the command name, which is in parentheses and may hold spaces;
            // utime and stime are the 14th and 15th fields, the 12th and 13th after the name.
            let after = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            let id = task.file_name().to_string_lossy().into_owned();
            Some((id, (ticks(11)? + ticks(12)?) / 100.0))
        })
        .collect()
}

/// The CPU seconds the main thread and all threads used between two [`thread_cpu`] readings.
fn cpu_used(before: &[(String, f64)], after: &[(String, f64)]) -> (f64, f64) {
    let main = std::process::id().to_string();
    let (mut main_used, mut all) = (0.0, 0.0);
    for (id, now) in after {
        let then = before
            .iter()
            .find(|(b, _)| b == id)
            .map_or(0.0, |(_, t)| *t);
        all += now - then;
        if *id == main {
            main_used += now - then;
        }
    }
    (main_used, all)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(100_000, |a| a.parse().expect("rows"));
    let repeats: usize = args.next().map_or(5, |a| a.parse().expect("repeats"));
    let out = args.next();
    let doc = month(rows);
    let (mut times, mut main_cpu, mut all_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut pdf = Vec::new();
    for run in 1..=repeats {
        let (started, before) = (Instant::now(), thread_cpu());
        pdf = render_output_vat(&doc).expect("rendered");
        let took = started.elapsed().as_secs_f64();
        let (main, all) = cpu_used(&before, &thread_cpu());
        println!("run {run}: {took:.3} s; CPU {main:.2} s on the main thread, {all:.2} s in all");
        times.push(took);
        main_cpu.push(main);
        all_cpu.push(all);
    }
    for figures in [&mut times, &mut main_cpu, &mut all_cpu] {
        figures.sort_by(f64::total_cmp);
    }
    let pages = pdf.windows(11).filter(|w| w == b"/Type/Page/").count();
    println!(
        "{rows} rows, {pages} pages, {} kB. Wall: fastest {:.3} s, median {:.3} s. \
         CPU (fastest, median): main thread {:.2} s, {:.2} s; all threads {:.2} s, {:.2} s",
        pdf.len() / 1000,
        times[0],
        times[times.len() / 2],
        main_cpu[0],
        main_cpu[main_cpu.len() / 2],
        all_cpu[0],
        all_cpu[all_cpu.len() / 2],
    );
    if let Some(path) = out {
        std::fs::write(&path, &pdf).expect("written");
    }
}
