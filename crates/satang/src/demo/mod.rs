//! The Thai demo data set (`satang demo`, `satang serve --demo`): farms, co-operatives and
//! agri-businesses with valid tax ids, provinces, contacts and members, so every page has real
//! content on first start. Loaded once per database (remembered in `kv`); deterministic, so two
//! demo databases hold the same data.

mod history;

use anyhow::Context;
use chrono::TimeDelta;
use serde_json::json;

use satang_api::AppState;
use satang_billing::customers::{self as billing_customers, CustomerChanges};
use satang_billing::settings::{CompanyName, SETTINGS_KEY, SellerProfile};
use satang_domain::{Currency, CustomerStatus};
use satang_store::audit::{self, Actor, Change};
use satang_store::contacts::{self, ContactFields};
use satang_store::customers::{self, CustomerFields, PostalAddress};
use satang_store::{kv, memberships, users};

const LOADED_KEY: &str = "demo_loaded";

/// The demo's administrator, created when no administrator exists.
pub const DEMO_ADMIN: &str = "admin@satang.demo";

/// The password of every demo account (printed when the demo loads).
pub const DEMO_PASSWORD: &str = "Satang-demo-2569";

/// (name, legal form, province, district, subdistrict, postal code, email domain)
const CUSTOMERS: [(&str, &str, &str, &str, &str, &str, &str); 40] = [
    (
        "สหกรณ์การเกษตรบ้านนา",
        "สหกรณ์การเกษตรบ้านนา จำกัด",
        "นครนายก",
        "บ้านนา",
        "บ้านนา",
        "26110",
        "banna.coop",
    ),
    (
        "ฟาร์มสุขใจ",
        "บริษัท ฟาร์มสุขใจ จำกัด",
        "เชียงใหม่",
        "แม่ริม",
        "ริมใต้",
        "50180",
        "sukjaifarm.co.th",
    ),
    (
        "ไร่ชาดอยแม่สลอง",
        "ห้างหุ้นส่วนจำกัด ไร่ชาดอยแม่สลอง",
        "เชียงราย",
        "แม่ฟ้าหลวง",
        "แม่สลองนอก",
        "57110",
        "maesalongtea.com",
    ),
    (
        "สวนทุเรียนลุงเด่น",
        "บริษัท สวนทุเรียนลุงเด่น จำกัด",
        "จันทบุรี",
        "เมืองจันทบุรี",
        "ตลาด",
        "22000",
        "lungden-durian.com",
    ),
    (
        "กลุ่มวิสาหกิจชุมชนข้าวหอมมะลิทุ่งกุลา",
        "วิสาหกิจชุมชนข้าวหอมมะลิทุ่งกุลา",
        "ร้อยเอ็ด",
        "เกษตรวิสัย",
        "เกษตรวิสัย",
        "45150",
        "tungkula-rice.org",
    ),
    (
        "ฟาร์มกุ้งบางปะกง",
        "บริษัท บางปะกงอะควาคัลเจอร์ จำกัด",
        "ฉะเชิงเทรา",
        "บางปะกง",
        "ท่าสะอ้าน",
        "24130",
        "bpkshrimp.co.th",
    ),
    (
        "สหกรณ์โคนมหนองโพ",
        "สหกรณ์โคนมหนองโพ ราชบุรี จำกัด",
        "ราชบุรี",
        "โพธาราม",
        "หนองโพ",
        "70120",
        "nongpho-dairy.coop",
    ),
    (
        "ไร่อ้อยพนมทวน",
        "บริษัท พนมทวนชูการ์ฟาร์ม จำกัด",
        "กาญจนบุรี",
        "พนมทวน",
        "พนมทวน",
        "71140",
        "phanomthuan-cane.com",
    ),
    (
        "สวนยางพาราทุ่งสง",
        "ห้างหุ้นส่วนจำกัด ยางพาราทุ่งสง",
        "นครศรีธรรมราช",
        "ทุ่งสง",
        "ปากแพรก",
        "80110",
        "thungsong-rubber.com",
    ),
    (
        "ฟาร์มเห็ดบ้านสวน",
        "บริษัท เห็ดบ้านสวน จำกัด",
        "ชลบุรี",
        "เมืองชลบุรี",
        "บ้านสวน",
        "20000",
        "bansuan-mushroom.com",
    ),
    (
        "Chiang Mai Organic Greens",
        "บริษัท เชียงใหม่ ออร์แกนิค กรีนส์ จำกัด",
        "เชียงใหม่",
        "สันทราย",
        "สันทรายหลวง",
        "50210",
        "cmorganic.co.th",
    ),
    (
        "Isan Cassava Traders",
        "บริษัท อีสาน แคสซาวา เทรดเดอร์ส จำกัด",
        "นครราชสีมา",
        "ปากช่อง",
        "ปากช่อง",
        "30130",
        "isancassava.com",
    ),
    (
        "สวนมะม่วงน้ำดอกไม้ฉะเชิงเทรา",
        "บริษัท มะม่วงแปดริ้ว จำกัด",
        "ฉะเชิงเทรา",
        "บางคล้า",
        "บางคล้า",
        "24110",
        "mango8riew.com",
    ),
    (
        "ฟาร์มไก่ไข่สระบุรี",
        "บริษัท สระบุรีเลเยอร์ฟาร์ม จำกัด",
        "สระบุรี",
        "แก่งคอย",
        "ทับกวาง",
        "18260",
        "saraburi-eggs.com",
    ),
    (
        "สหกรณ์ผู้ปลูกลำไยลำพูน",
        "สหกรณ์ผู้ปลูกลำไยลำพูน จำกัด",
        "ลำพูน",
        "ป่าซาง",
        "ป่าซาง",
        "51120",
        "lamphun-longan.coop",
    ),
    (
        "ไร่องุ่นเขาใหญ่",
        "บริษัท เขาใหญ่ไวน์ยาร์ด จำกัด",
        "นครราชสีมา",
        "ปากช่อง",
        "หมูสี",
        "30130",
        "khaoyai-vineyard.com",
    ),
    (
        "ฟาร์มปลานิลสุพรรณ",
        "ห้างหุ้นส่วนจำกัด ปลานิลสุพรรณ",
        "สุพรรณบุรี",
        "สองพี่น้อง",
        "สองพี่น้อง",
        "72110",
        "suphan-tilapia.com",
    ),
    (
        "Andaman Palm Oil Estate",
        "บริษัท อันดามัน ปาล์มออยล์ เอสเตท จำกัด",
        "กระบี่",
        "อ่าวลึก",
        "อ่าวลึกใต้",
        "81110",
        "andamanpalm.com",
    ),
    (
        "สวนส้มโอนครชัยศรี",
        "บริษัท ส้มโอนครชัยศรี จำกัด",
        "นครปฐม",
        "นครชัยศรี",
        "นครชัยศรี",
        "73120",
        "nakhonchaisri-pomelo.com",
    ),
    (
        "กลุ่มเกษตรกรทำสวนกาแฟดอยช้าง",
        "วิสาหกิจชุมชนกาแฟดอยช้าง",
        "เชียงราย",
        "แม่สรวย",
        "วาวี",
        "57180",
        "doichaang-coffee.org",
    ),
    (
        "ฟาร์มโคเนื้อโพนยางคำ",
        "สหกรณ์โคเนื้อโพนยางคำ จำกัด",
        "สกลนคร",
        "เมืองสกลนคร",
        "เหล่าปอแดง",
        "47000",
        "phonyangkham-beef.coop",
    ),
    (
        "ไร่ข้าวโพดเพชรบูรณ์",
        "บริษัท เพชรบูรณ์คอร์น จำกัด",
        "เพชรบูรณ์",
        "หล่มสัก",
        "หล่มสัก",
        "67110",
        "petchabun-corn.com",
    ),
    (
        "สวนผักไฮโดรโปนิกส์ปทุมธานี",
        "บริษัท ปทุมไฮโดรฟาร์ม จำกัด",
        "ปทุมธานี",
        "คลองหลวง",
        "คลองหนึ่ง",
        "12120",
        "pathumhydro.com",
    ),
    (
        "ฟาร์มผึ้งสวนป่า",
        "ห้างหุ้นส่วนจำกัด น้ำผึ้งสวนป่า",
        "ลำปาง",
        "แจ้ห่ม",
        "แจ้ห่ม",
        "52120",
        "suanpa-honey.com",
    ),
    (
        "Mekong Rice Mill",
        "บริษัท แม่โขง ไรซ์มิลล์ จำกัด",
        "หนองคาย",
        "ศรีเชียงใหม่",
        "พานพร้าว",
        "43130",
        "mekongricemill.com",
    ),
    (
        "สหกรณ์ประมงปากพนัง",
        "สหกรณ์ประมงปากพนัง จำกัด",
        "นครศรีธรรมราช",
        "ปากพนัง",
        "ปากพนัง",
        "80140",
        "pakphanang-fishery.coop",
    ),
    (
        "ฟาร์มสตรอว์เบอร์รีสะเมิง",
        "บริษัท สะเมิงเบอร์รี จำกัด",
        "เชียงใหม่",
        "สะเมิง",
        "สะเมิงใต้",
        "50250",
        "samoeng-berry.com",
    ),
    (
        "สวนลิ้นจี่บางขุนเทียน",
        "ห้างหุ้นส่วนจำกัด ลิ้นจี่บางขุนเทียน",
        "กรุงเทพมหานคร",
        "จอมทอง",
        "บางขุนเทียน",
        "10150",
        "bkt-lychee.com",
    ),
    (
        "ไร่มันสำปะหลังกำแพงเพชร",
        "บริษัท กำแพงเพชรแป้งมัน จำกัด",
        "กำแพงเพชร",
        "คลองขลุง",
        "คลองขลุง",
        "62120",
        "kpp-tapioca.com",
    ),
    (
        "ฟาร์มแพะนมราชบุรี",
        "บริษัท ราชบุรีโกทแดรี่ จำกัด",
        "ราชบุรี",
        "จอมบึง",
        "จอมบึง",
        "70150",
        "ratchaburi-goat.com",
    ),
    (
        "Thai Agri Drone Services",
        "บริษัท ไทย อะกริ โดรน เซอร์วิสเซส จำกัด",
        "กรุงเทพมหานคร",
        "จตุจักร",
        "ลาดยาว",
        "10900",
        "thaiagridrone.com",
    ),
    (
        "สหกรณ์การเกษตรเมืองสุรินทร์",
        "สหกรณ์การเกษตรเมืองสุรินทร์ จำกัด",
        "สุรินทร์",
        "เมืองสุรินทร์",
        "ในเมือง",
        "32000",
        "surin-agri.coop",
    ),
    (
        "สวนเงาะโรงเรียนนาสาร",
        "ห้างหุ้นส่วนจำกัด เงาะนาสาร",
        "สุราษฎร์ธานี",
        "บ้านนาสาร",
        "นาสาร",
        "84120",
        "nasan-rambutan.com",
    ),
    (
        "ฟาร์มหมูราชบุรี",
        "บริษัท ราชบุรีสไวน์ จำกัด",
        "ราชบุรี",
        "บ้านโป่ง",
        "บ้านโป่ง",
        "70110",
        "rb-swine.com",
    ),
    (
        "ไร่สับปะรดปราณบุรี",
        "บริษัท ปราณบุรีไพน์แอปเปิ้ล จำกัด",
        "ประจวบคีรีขันธ์",
        "ปราณบุรี",
        "ปราณบุรี",
        "77120",
        "pranburi-pineapple.com",
    ),
    (
        "กลุ่มเกษตรอินทรีย์ยโสธร",
        "วิสาหกิจชุมชนเกษตรอินทรีย์ยโสธร",
        "ยโสธร",
        "กุดชุม",
        "กุดชุม",
        "35140",
        "yasothon-organic.org",
    ),
    (
        "ฟาร์มกล้วยไม้บางใหญ่",
        "บริษัท บางใหญ่ออร์คิด จำกัด",
        "นนทบุรี",
        "บางใหญ่",
        "บางม่วง",
        "11140",
        "bangyai-orchid.com",
    ),
    (
        "Southern Seaweed Co.",
        "บริษัท เซาเทิร์น ซีวีด จำกัด",
        "ตรัง",
        "สิเกา",
        "บ่อหิน",
        "92150",
        "southernseaweed.co.th",
    ),
    (
        "สวนมังคุดตราด",
        "ห้างหุ้นส่วนจำกัด มังคุดเมืองตราด",
        "ตราด",
        "เขาสมิง",
        "เขาสมิง",
        "23130",
        "trat-mangosteen.com",
    ),
    (
        "โรงสีข้าวชัยนาท",
        "บริษัท ชัยนาทไรซ์ จำกัด",
        "ชัยนาท",
        "สรรพยา",
        "สรรพยา",
        "17150",
        "chainat-rice.com",
    ),
];

const SEGMENTS: [&str; 3] = ["co-operative", "farm", "agri-business"];

const PEOPLE: [&str; 12] = [
    "สมชาย ใจดี",
    "สมศรี รักไทย",
    "นิรันดร์ ทองคำ",
    "มาลี ศรีสุข",
    "ประยุทธ มั่นคง",
    "วิไล แสงทอง",
    "อนันต์ พูลสวัสดิ์",
    "กาญจนา บุญมา",
    "ธนากร เพชรดี",
    "รัตนา วงศ์ใหญ่",
    "Somsak Chaiyo",
    "Ploy Srisai",
];

/// A tax id with a valid check digit, derived from `n` (juristic ids start with 0).
fn tax_id(n: u64) -> String {
    let base = format!("0105{:08}", 56_000_000 + n * 7919 % 40_000_000);
    let digits: Vec<u32> = base.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| d * (13 - i as u32))
        .sum();
    format!("{base}{}", (11 - sum % 11) % 10)
}

/// Loads the demo once; returns false when this database already has it. `admin_email` is the
/// administrator of `SATANG_ADMIN_EMAIL`, named in the log when the demo keeps it instead of
/// adding its own.
pub async fn load(state: &AppState, admin_email: Option<&str>) -> anyhow::Result<bool> {
    if kv::get(&state.db, LOADED_KEY).await?.is_some() {
        return Ok(false);
    }
    let now = state.clock.now();
    let actor = Actor::default();
    let password_hash = state.hasher.hash(DEMO_PASSWORD);
    let mut tx = state.db.begin().await?;
    let mut accounts = Vec::new();
    let mut suspended = Vec::new();
    for (i, (name, legal, province, district, subdistrict, postal, domain)) in
        CUSTOMERS.iter().enumerate()
    {
        let i = i as u64;
        let created = now - TimeDelta::days(365 - (i as i64) * 8);
        let fields = CustomerFields {
            name: (*name).to_owned(),
            legal_name: Some((*legal).to_owned()),
            tax_id: Some(tax_id(i)),
            branch_code: Some(if i % 7 == 3 { "00001" } else { "00000" }.to_owned()),
            email: Some(format!("office@{domain}")),
            phone: Some(format!(
                "0{}-{:03}-{:04}",
                2 + i % 8,
                100 + i * 13 % 900,
                1000 + i * 379 % 9000
            )),
            billing_email: Some(format!("billing@{domain}")),
            address: Some(PostalAddress {
                country: Some("TH".into()),
                district: Some((*district).to_owned()),
                line1: Some(format!("{} หมู่ {}", 10 + i * 7 % 190, 1 + i % 12)),
                line2: None,
                postal_code: Some((*postal).to_owned()),
                province: Some((*province).to_owned()),
                subdistrict: Some((*subdistrict).to_owned()),
            }),
            currency: Currency::Thb,
            locale: if name.is_ascii() { "en" } else { "th" }.into(),
            payment_terms_days: [30, 15, 30, 45, 7][i as usize % 5],
            metadata: json!({ "segment": SEGMENTS[i as usize % 3] }),
        };
        let customer = customers::insert(&mut tx, &fields, created).await?;
        accounts.push(history::Account {
            customer_id: customer.id,
            index: i as usize,
            joined: satang_domain::bangkok_date(created),
        });
        audit::record(
            &mut tx,
            &actor,
            Change {
                action: "customer.created",
                entity_type: "customer",
                entity_id: customer.id.to_string(),
                before: None,
                after: Some(json!({ "name": customer.name, "source": "demo" })),
            },
            created,
        )
        .await?;
        for (j, role) in ["owner", "billing", "ops", "technical"]
            .iter()
            .enumerate()
            .take(1 + (i as usize % 4))
        {
            let person = PEOPLE[(i as usize + j * 5) % PEOPLE.len()];
            contacts::insert(
                &mut tx,
                customer.id,
                &ContactFields {
                    name: person.to_owned(),
                    email: Some(format!("{role}@{domain}")),
                    phone: Some(format!(
                        "08{}-{:03}-{:04}",
                        i % 10,
                        200 + j * 111,
                        3000 + i * 17 % 6000
                    )),
                    role: (*role).to_owned(),
                    is_primary: true,
                },
                created,
            )
            .await?;
        }
        // Every fourth customer has an owner account for the customer portal.
        if i.is_multiple_of(4) {
            let email = format!("owner@{domain}");
            let user = users::insert(
                &mut tx,
                users::NewUser {
                    email: &email,
                    name: PEOPLE[i as usize % PEOPLE.len()],
                    password_hash: Some(password_hash.clone()),
                    roles: vec![],
                },
                created,
            )
            .await
            .with_context(|| format!("demo user {email}"))?;
            memberships::add_member(&mut tx, customer.id, user.id, "owner", created).await?;
        }
        // Suspended today, after their history: a suspended customer cannot subscribe.
        if i % 9 == 5 {
            suspended.push(customer.id);
        }
    }
    // A staff administrator for the console, unless one exists already.
    let demo_admin = users::count_admins(&state.db).await? == 0;
    if demo_admin {
        users::insert(
            &mut tx,
            users::NewUser {
                email: DEMO_ADMIN,
                name: "ผู้ดูแลระบบ (demo)",
                password_hash: Some(password_hash.clone()),
                roles: vec!["admin".into()],
            },
            now,
        )
        .await?;
    }
    // A complete seller profile, so documents and the PromptPay QR have what they need.
    let seller = SellerProfile {
        company_name: CompanyName {
            th: "บริษัท ฟาร์มไอคิว เทคโนโลยี จำกัด".into(),
            en: "FarmIQ Technology Co., Ltd.".into(),
        },
        tax_id: Some(tax_id(99)),
        branch_code: Some("00000".into()),
        address: Some(PostalAddress {
            line1: Some("88/8 อาคารเกษตรนวัตกรรม ถนนพหลโยธิน".into()),
            line2: None,
            subdistrict: Some("ลาดยาว".into()),
            district: Some("จตุจักร".into()),
            province: Some("กรุงเทพมหานคร".into()),
            postal_code: Some("10900".into()),
            country: Some("TH".into()),
        }),
        phone: Some("02-123-4567".into()),
        email: Some("billing@farmiq.example".into()),
        promptpay_id: Some(tax_id(99)),
        invoice_prefix: "FIQ".into(),
        // แขวงลาดยาว เขตจตุจักร: the e-Tax XML writes the seller's address with its codes.
        etax_subdistrict_code: Some("103001".into()),
        ..SellerProfile::default()
    }
    .checked()
    .map_err(|e| anyhow::anyhow!("demo seller profile: {e:?}"))?;
    kv::set_in(&mut tx, SETTINGS_KEY, &serde_json::to_string(&seller)?).await?;
    tx.commit().await?;
    history::load(&state.db, &accounts, now).await?;
    for id in suspended {
        let mut tx = state.db.begin().await?;
        let suspend = CustomerChanges {
            status: Some(CustomerStatus::Suspended),
            ..CustomerChanges::default()
        };
        billing_customers::update_customer(&mut tx, &actor, id, suspend, None, now).await?;
        tx.commit().await?;
    }
    kv::set(&state.db, LOADED_KEY, &now.to_rfc3339()).await?;
    if demo_admin {
        tracing::info!(
            customers = CUSTOMERS.len(),
            "demo data loaded: sign in as {DEMO_ADMIN} (or a customer's owner@<domain>) with {DEMO_PASSWORD}"
        );
    } else {
        let admin = admin_email.unwrap_or("your administrator");
        tracing::info!(
            customers = CUSTOMERS.len(),
            "demo data loaded: sign in as {admin}, or as a customer's owner@<domain> with {DEMO_PASSWORD}"
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tax_ids_are_valid_and_distinct() {
        let ids: Vec<String> = (0..CUSTOMERS.len() as u64).map(tax_id).collect();
        for id in &ids {
            assert!(satang_domain::TaxId::parse(id).is_ok(), "{id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
