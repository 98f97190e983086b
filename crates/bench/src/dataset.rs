//! The generated customer book: Thai farms, co-operatives and agri-businesses (and some with
//! English names), each with three contacts, shaped exactly like the rows the API writes.
//!
//! Every row is a pure function of its number, so the loader can stream rows in any order and
//! the bench can name any loaded customer (for random reads, cursors, search terms) without
//! keeping the million rows in memory.
//!
//! Customer `i` was created at `start + i·step`; its id is a UUIDv7 of that millisecond, so ids
//! increase with `i` (and with creation time), as ids made by `Uuid::now_v7()` do. Its contacts
//! were added in the following milliseconds.

use chrono::{DateTime, TimeDelta, Utc};
use satang_domain::CustomerStatus;
use serde_json::json;
use uuid::{Builder, Uuid};

use crate::load::SplitMix64;

/// How many contacts each customer has (owner, billing, ops).
pub const CONTACTS_PER_CUSTOMER: usize = 3;
pub const CONTACT_ROLES: [&str; CONTACTS_PER_CUSTOMER] = ["owner", "billing", "ops"];

/// Thai name forms: (prefix of the name, how the legal name is made from the name).
const THAI_FORMS: [(&str, LegalForm); 7] = [
    ("สหกรณ์การเกษตร", LegalForm::CoOp),
    ("ฟาร์ม", LegalForm::Company),
    ("ไร่", LegalForm::Partnership),
    ("สวน", LegalForm::Company),
    ("บริษัท ", LegalForm::Limited),
    ("วิสาหกิจชุมชน", LegalForm::AsIs),
    ("กลุ่มเกษตรกร", LegalForm::AsIs),
];

#[derive(Clone, Copy)]
enum LegalForm {
    /// `สหกรณ์… จำกัด`
    CoOp,
    /// `บริษัท … จำกัด` when the name already starts with `บริษัท`.
    Limited,
    /// `บริษัท … จำกัด`
    Company,
    /// `ห้างหุ้นส่วนจำกัด …`
    Partnership,
    /// The name is already the registered name.
    AsIs,
}

/// (Thai, romanised for e-mail domains)
const PRODUCTS: [(&str, &str); 24] = [
    ("ข้าวหอมมะลิ", "hommali"),
    ("ทุเรียน", "durian"),
    ("มังคุด", "mangosteen"),
    ("ลำไย", "longan"),
    ("ยางพารา", "rubber"),
    ("มันสำปะหลัง", "cassava"),
    ("อ้อย", "sugarcane"),
    ("กาแฟ", "coffee"),
    ("ชา", "tea"),
    ("กุ้ง", "shrimp"),
    ("ไก่ไข่", "eggs"),
    ("โคนม", "dairy"),
    ("สุกร", "pork"),
    ("ผักอินทรีย์", "organicveg"),
    ("เห็ด", "mushroom"),
    ("มะม่วง", "mango"),
    ("ปาล์มน้ำมัน", "oilpalm"),
    ("ข้าวโพด", "corn"),
    ("ส้มโอ", "pomelo"),
    ("สับปะรด", "pineapple"),
    ("กล้วยไม้", "orchid"),
    ("มะพร้าว", "coconut"),
    ("ลิ้นจี่", "lychee"),
    ("สตรอว์เบอร์รี", "strawberry"),
];

/// (place, romanised, province, district, subdistrict, postal code)
const PLACES: [(&str, &str, &str, &str, &str, &str); 23] = [
    ("บ้านนา", "banna", "นครนายก", "บ้านนา", "บ้านนา", "26110"),
    (
        "ดอยแม่สลอง",
        "maesalong",
        "เชียงราย",
        "แม่ฟ้าหลวง",
        "แม่สลองนอก",
        "57110",
    ),
    (
        "ทุ่งกุลา",
        "tungkula",
        "ร้อยเอ็ด",
        "เกษตรวิสัย",
        "เกษตรวิสัย",
        "45150",
    ),
    (
        "บางปะกง",
        "bangpakong",
        "ฉะเชิงเทรา",
        "บางปะกง",
        "ท่าสะอ้าน",
        "24130",
    ),
    ("แม่ริม", "maerim", "เชียงใหม่", "แม่ริม", "ริมใต้", "50180"),
    (
        "สันทราย",
        "sansai",
        "เชียงใหม่",
        "สันทราย",
        "สันทรายหลวง",
        "50210",
    ),
    ("เขาใหญ่", "khaoyai", "นครราชสีมา", "ปากช่อง", "หมูสี", "30130"),
    (
        "วังน้ำเขียว",
        "wangnamkhiao",
        "นครราชสีมา",
        "วังน้ำเขียว",
        "วังน้ำเขียว",
        "30370",
    ),
    ("ท่าใหม่", "thamai", "จันทบุรี", "ท่าใหม่", "ท่าใหม่", "22120"),
    ("ขลุง", "khlung", "จันทบุรี", "ขลุง", "ขลุง", "22110"),
    ("หลังสวน", "langsuan", "ชุมพร", "หลังสวน", "หลังสวน", "86110"),
    (
        "ท่าศาลา",
        "thasala",
        "นครศรีธรรมราช",
        "ท่าศาลา",
        "ท่าศาลา",
        "80160",
    ),
    (
        "ดอยสะเก็ด",
        "doisaket",
        "เชียงใหม่",
        "ดอยสะเก็ด",
        "เชิงดอย",
        "50220",
    ),
    ("บ่อพลอย", "boploi", "กาญจนบุรี", "บ่อพลอย", "บ่อพลอย", "71160"),
    ("สามพราน", "samphran", "นครปฐม", "สามพราน", "ไร่ขิง", "73210"),
    (
        "ดำเนินสะดวก",
        "damnoen",
        "ราชบุรี",
        "ดำเนินสะดวก",
        "ดำเนินสะดวก",
        "70130",
    ),
    (
        "หนองคาย",
        "nongkhai",
        "หนองคาย",
        "เมืองหนองคาย",
        "ในเมือง",
        "43000",
    ),
    ("ภูเรือ", "phuruea", "เลย", "ภูเรือ", "หนองบัว", "42160"),
    (
        "เกาะสมุย",
        "samui",
        "สุราษฎร์ธานี",
        "เกาะสมุย",
        "อ่างทอง",
        "84140",
    ),
    ("พิมาย", "phimai", "นครราชสีมา", "พิมาย", "ในเมือง", "30110"),
    ("แม่แตง", "maetaeng", "เชียงใหม่", "แม่แตง", "ช่อแล", "50150"),
    (
        "บ้านแพ้ว",
        "banphaeo",
        "สมุทรสาคร",
        "บ้านแพ้ว",
        "บ้านแพ้ว",
        "74120",
    ),
    ("ลำลูกกา", "lamlukka", "ปทุมธานี", "ลำลูกกา", "ลำลูกกา", "12150"),
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

const FIRST_NAMES: [&str; 16] = [
    "สมชาย",
    "สมศรี",
    "วิไล",
    "ประเสริฐ",
    "สุนีย์",
    "อนันต์",
    "มาลี",
    "บุญมี",
    "กาญจนา",
    "ธนากร",
    "ปราณี",
    "สมพงษ์",
    "ณัฐพล",
    "พรทิพย์",
    "อำนาจ",
    "จันทร์เพ็ญ",
];
const LAST_NAMES: [&str; 10] = [
    "ใจดี",
    "ศรีสุข",
    "บุญมา",
    "แก้วมณี",
    "ทองคำ",
    "สุขสวัสดิ์",
    "วงศ์ไทย",
    "พรหมมา",
    "ชัยมงคล",
    "รักษ์นา",
];

/// Registration-office prefixes of juristic tax ids (digits 2–5).
const TAX_OFFICES: [&str; 6] = ["1055", "1065", "5055", "4035", "1035", "7055"];

/// One `customers` row, every column the migrations define except the generated `search_text`.
pub struct CustomerRow {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    /// As the API stores it (every key present, `country` upper-case).
    pub address: Option<serde_json::Value>,
    pub currency: &'static str,
    pub locale: &'static str,
    pub payment_terms_days: i64,
    /// `{}` as JSON text.
    pub metadata: &'static str,
    pub status: CustomerStatus,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// One `contacts` row.
pub struct ContactRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub role: &'static str,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The book: `customers` rows created evenly over the three years before `end`.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    pub customers: u64,
    start_ms: i64,
    step_ms: i64,
    seed: u64,
}

/// Everything chosen at random about customer `i`, drawn in a fixed order from its own seed.
struct Draw {
    latin: bool,
    form: usize,
    product: usize,
    place: usize,
    adjective: usize,
    noun: usize,
    latin_product: usize,
    number: u64,
    has_tax_id: bool,
    tax_office: usize,
    branch: bool,
    has_billing_email: bool,
    has_address: bool,
    house: u64,
    moo: u64,
    phone: u64,
    status: u64,
    terms: u64,
    touched_after_ms: i64,
    id_bits: [u8; 10],
}

impl Dataset {
    /// The customers ending a little before `end`, so anything created afterwards through the
    /// API sorts after them.
    pub fn new(customers: u64, end: DateTime<Utc>) -> Dataset {
        let span_ms: i64 = 3 * 365 * 24 * 3600 * 1000;
        let customers = customers.max(1);
        // Room for the contacts' milliseconds between two customers.
        let step_ms = (span_ms / customers as i64).max(CONTACTS_PER_CUSTOMER as i64 + 1);
        let end_ms = end.timestamp_millis() - 60_000;
        Dataset {
            customers,
            start_ms: end_ms - step_ms * customers as i64,
            step_ms,
            seed: 0x5A7A_4E60_0000_0001,
        }
    }

    /// The dataset of `customers` whose first customer was created at `first` (read back from
    /// a database loaded earlier: [`Dataset::new`] with the end that gives that start).
    pub fn matching(customers: u64, first: DateTime<Utc>) -> Dataset {
        let set = Dataset::new(customers, first);
        let shift = first.timestamp_millis() - set.start_ms;
        Dataset {
            start_ms: set.start_ms + shift,
            ..set
        }
    }

    fn rng(&self, i: u64, stream: u64) -> SplitMix64 {
        SplitMix64(
            self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD6E8_FEB8),
        )
    }

    fn created_ms(&self, i: u64) -> i64 {
        self.start_ms + i as i64 * self.step_ms
    }

    fn draw(&self, i: u64) -> Draw {
        let mut r = self.rng(i, 0);
        let mut id_bits = [0u8; 10];
        id_bits[..8].copy_from_slice(&r.next().to_le_bytes());
        id_bits[8..].copy_from_slice(&r.next().to_le_bytes()[..2]);
        Draw {
            // About 30 % of the book has an English trading name.
            latin: r.below(10) < 3,
            form: r.below(THAI_FORMS.len() as u64) as usize,
            product: r.below(PRODUCTS.len() as u64) as usize,
            place: r.below(PLACES.len() as u64) as usize,
            adjective: r.below(LATIN_ADJECTIVES.len() as u64) as usize,
            noun: r.below(LATIN_NOUNS.len() as u64) as usize,
            latin_product: r.below(LATIN_PRODUCTS.len() as u64) as usize,
            number: 1 + r.below(9999),
            has_tax_id: r.below(100) < 85,
            tax_office: r.below(TAX_OFFICES.len() as u64) as usize,
            branch: r.below(10) == 0,
            has_billing_email: r.below(10) < 6,
            has_address: r.below(10) < 9,
            house: 1 + r.below(400),
            moo: 1 + r.below(15),
            phone: r.below(10_000_000),
            status: r.below(100),
            terms: r.below(5),
            touched_after_ms: (r.below(200 * 24 * 3600) * 1000) as i64,
            id_bits,
        }
    }

    /// The id of customer `i` (a UUIDv7 of its creation millisecond).
    pub fn customer_id(&self, i: u64) -> Uuid {
        let ms = self.created_ms(i) as u64;
        Builder::from_unix_timestamp_millis(ms, &self.draw(i).id_bits).into_uuid()
    }

    /// The tax id of customer `i`, if it has one.
    pub fn tax_id(&self, i: u64) -> Option<String> {
        let d = self.draw(i);
        d.has_tax_id.then(|| tax_id(TAX_OFFICES[d.tax_office], i))
    }

    pub fn customer(&self, i: u64) -> CustomerRow {
        let d = self.draw(i);
        let created_at = time(self.created_ms(i));
        let (name, legal_name, domain, locale) = names(&d);
        let tax_id = d.has_tax_id.then(|| tax_id(TAX_OFFICES[d.tax_office], i));
        let branch_code = tax_id
            .as_ref()
            .map(|_| if d.branch { "00001" } else { "00000" }.to_owned());
        let place = PLACES[d.place];
        let address = d.has_address.then(|| {
            json!({
                "line1": format!("{} หมู่ {}", d.house, d.moo),
                "line2": null,
                "subdistrict": place.4,
                "district": place.3,
                "province": place.2,
                "postal_code": place.5,
                "country": "TH",
            })
        });
        // 1 % deleted, 3 % suspended, the rest active; those changed since were updated later.
        let (status, touched) = match d.status {
            0 => (CustomerStatus::Deleted, true),
            1..=3 => (CustomerStatus::Suspended, true),
            4..=19 => (CustomerStatus::Active, true),
            _ => (CustomerStatus::Active, false),
        };
        let updated_at = if touched {
            (created_at + TimeDelta::milliseconds(d.touched_after_ms))
                .min(time(self.created_ms(self.customers) - 1))
        } else {
            created_at
        };
        CustomerRow {
            id: self.customer_id(i),
            name,
            legal_name: Some(legal_name),
            tax_id,
            branch_code,
            email: Some(format!("office@{domain}")),
            phone: Some(format!(
                "0{}-{:03}-{:04}",
                2 + d.phone % 8,
                d.phone / 10 % 1000,
                d.phone / 10_000 % 10_000
            )),
            billing_email: d.has_billing_email.then(|| format!("billing@{domain}")),
            address,
            currency: "THB",
            locale,
            payment_terms_days: [30, 30, 15, 45, 7][d.terms as usize],
            metadata: "{}",
            status,
            balance: 0,
            created_at,
            updated_at,
            deleted_at: status.is_deleted().then_some(updated_at),
            version: 1 + i64::from(touched),
        }
    }

    /// The contacts of customer `i`: an owner, a billing and an ops person, each the primary
    /// of their role.
    pub fn contacts(&self, i: u64) -> [ContactRow; CONTACTS_PER_CUSTOMER] {
        let d = self.draw(i);
        let customer_id = self.customer_id(i);
        let (_, _, domain, _) = names(&d);
        let mut r = self.rng(i, 1);
        std::array::from_fn(|j| {
            let ms = self.created_ms(i) + 1 + j as i64;
            let mut bits = [0u8; 10];
            bits[..8].copy_from_slice(&r.next().to_le_bytes());
            bits[8..].copy_from_slice(&r.next().to_le_bytes()[..2]);
            let first = FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize];
            let last = LAST_NAMES[r.below(LAST_NAMES.len() as u64) as usize];
            let phone = r.below(10_000_000);
            let role = CONTACT_ROLES[j];
            let at = time(ms);
            ContactRow {
                id: Builder::from_unix_timestamp_millis(ms as u64, &bits).into_uuid(),
                customer_id,
                name: format!("{first} {last}"),
                email: Some(format!("{role}@{domain}")),
                phone: Some(format!(
                    "08{}-{:03}-{:04}",
                    phone % 10,
                    phone / 10 % 1000,
                    phone / 10_000 % 10_000
                )),
                role,
                is_primary: true,
                created_at: at,
                updated_at: at,
                version: 1,
            }
        })
    }

    /// A `POST /api/customers` body for a customer like customer `i` (for `i` beyond the
    /// loaded ones: new customers).
    pub fn create_body(&self, i: u64) -> serde_json::Value {
        let c = self.customer(i);
        json!({
            "name": c.name,
            "legal_name": c.legal_name,
            "tax_id": c.tax_id,
            "branch_code": c.branch_code,
            "email": c.email,
            "phone": c.phone,
            "billing_email": c.billing_email,
            "address": c.address,
            "locale": c.locale,
            "payment_terms_days": c.payment_terms_days,
        })
    }
}

/// (name, legal name, e-mail domain, locale)
fn names(d: &Draw) -> (String, String, String, &'static str) {
    if d.latin {
        let (adj, noun, product) = (
            LATIN_ADJECTIVES[d.adjective],
            LATIN_NOUNS[d.noun],
            LATIN_PRODUCTS[d.latin_product],
        );
        let core = format!("{adj} {noun} {product}");
        let domain = format!(
            "{}{}-{}{}.co.th",
            adj.to_ascii_lowercase(),
            noun.to_ascii_lowercase(),
            product.to_ascii_lowercase(),
            d.number
        );
        (
            format!("{core} {}", d.number),
            format!("{core} {} Co., Ltd.", d.number),
            domain,
            "en",
        )
    } else {
        let (prefix, form) = THAI_FORMS[d.form];
        let (product, product_latin) = PRODUCTS[d.product];
        let (place, place_latin, ..) = PLACES[d.place];
        let name = format!("{prefix}{product}{place} {}", d.number);
        let legal = match form {
            LegalForm::CoOp | LegalForm::Limited => format!("{name} จำกัด"),
            LegalForm::Company => format!("บริษัท {name} จำกัด"),
            LegalForm::Partnership => format!("ห้างหุ้นส่วนจำกัด {name}"),
            LegalForm::AsIs => name.clone(),
        };
        let tld = match form {
            LegalForm::CoOp => "coop",
            LegalForm::AsIs => "or.th",
            _ => "co.th",
        };
        let domain = format!("{product_latin}-{place_latin}{}.{tld}", d.number);
        (name, legal, domain, "th")
    }
}

/// A juristic-person tax id (leading 0), unique per `i` below ten million, with its check digit.
pub fn tax_id(office: &str, i: u64) -> String {
    // A bijection on 0..10^7, so consecutive customers do not get consecutive numbers.
    let serial = (i % 10_000_000) * 7_919 % 10_000_000;
    let mut digits = format!("0{office}{serial:07}");
    digits.push(char::from(b'0' + check_digit(digits.as_bytes())));
    digits
}

/// `(11 − Σ dᵢ·(13 − i) mod 11) mod 10` over the first twelve digits.
pub fn check_digit(first_twelve: &[u8]) -> u8 {
    let sum: u32 = first_twelve[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * (13 - i as u32))
        .sum();
    ((11 - sum % 11) % 10) as u8
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_ids_have_valid_check_digits() {
        assert_eq!(check_digit(b"010553600031"), 3);
        let set = Dataset::new(100_000, Utc::now());
        for i in (0..100_000).step_by(997) {
            if let Some(id) = set.tax_id(i) {
                assert!(satang_domain::tax_id::TaxId::parse(&id).is_ok(), "{id}");
            }
        }
        for office in TAX_OFFICES {
            let id = tax_id(office, 9_999_999);
            assert!(satang_domain::tax_id::TaxId::parse(&id).is_ok(), "{id}");
        }
    }

    #[test]
    fn ids_increase_with_the_customer_number_and_contacts_follow() {
        let set = Dataset::new(1000, Utc::now());
        let mut last = Uuid::nil();
        for i in 0..1000 {
            let id = set.customer_id(i);
            assert!(id > last);
            assert_eq!(id.get_version_num(), 7);
            for c in set.contacts(i) {
                assert_eq!(c.customer_id, id);
                assert!(c.id > id);
                assert!(i == 999 || c.id < set.customer_id(i + 1));
            }
            last = id;
        }
        assert_eq!(set.customer(17).id, set.customer_id(17));
    }

    #[test]
    fn rows_look_like_the_apis() {
        let set = Dataset::new(10_000, Utc::now());
        let deleted = (0..10_000)
            .filter(|i| set.customer(*i).status.is_deleted())
            .count();
        assert!((50..200).contains(&deleted), "{deleted} deleted");
        let c = set.customer(3);
        assert!(c.email.unwrap().starts_with("office@"));
        assert!(c.updated_at >= c.created_at);
    }
}
