-- The plan catalog and subscriptions (SPEC §2.4, §2.5).
--
-- A plan row is one *version* of a plan: changing its price (or pricing, cycle, currency or
-- metered prices) archives the row and inserts the next version under the same code, so a
-- subscription's plan_id names exactly the price it bought (grandfathering). Among active rows a
-- (code, billing_interval) pair is unique: that pair is how `plan_code` (+ `interval`) finds the
-- plan to sell.
CREATE TABLE customers.plan_catalog (
    id                   uuid PRIMARY KEY,
    code                 text NOT NULL,
    name_th              text NOT NULL,
    name_en              text NOT NULL,
    description_th       text NOT NULL DEFAULT '',
    description_en       text NOT NULL DEFAULT '',
    billing_interval     text NOT NULL,
    interval_count       bigint NOT NULL DEFAULT 1,
    price                bigint NOT NULL,
    currency             text NOT NULL,
    pricing              text NOT NULL,
    trial_days           bigint NOT NULL DEFAULT 0,
    features             jsonb NOT NULL DEFAULT '[]',
    limits               jsonb NOT NULL DEFAULT '{}',
    metered              jsonb NOT NULL DEFAULT '[]',
    active               boolean NOT NULL DEFAULT true,
    version              bigint NOT NULL DEFAULT 1,
    previous_version_id  uuid REFERENCES customers.plan_catalog(id),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    archived_at          timestamptz
);
CREATE UNIQUE INDEX plan_catalog_active_code ON customers.plan_catalog (code, billing_interval)
    WHERE active;
CREATE UNIQUE INDEX plan_catalog_code_version
    ON customers.plan_catalog (code, billing_interval, version);

-- Billing dates are calendar dates in the seller's time zone (Asia/Bangkok); periods are
-- half-open, so current_period_end is the first day of the next period.
CREATE TABLE customers.subscriptions (
    id                    uuid PRIMARY KEY,
    customer_id           uuid NOT NULL REFERENCES customers.customers(id),
    plan_id               uuid NOT NULL REFERENCES customers.plan_catalog(id),
    quantity              bigint NOT NULL DEFAULT 1,
    status                text NOT NULL,
    collection_method     text NOT NULL,
    start_date            date NOT NULL,
    trial_end             date,
    current_period_start  date NOT NULL,
    current_period_end    date NOT NULL,
    billing_anchor_day    bigint NOT NULL,
    next_billing_date     date,
    cancel_at_period_end  boolean NOT NULL DEFAULT false,
    paused_at             timestamptz,
    canceled_at           timestamptz,
    pending_plan_id       uuid REFERENCES customers.plan_catalog(id),
    pending_quantity      bigint,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    version               bigint NOT NULL DEFAULT 1
);
CREATE INDEX subscriptions_customer ON customers.subscriptions (customer_id, id);
CREATE INDEX subscriptions_status ON customers.subscriptions (status, id);
CREATE INDEX subscriptions_plan ON customers.subscriptions (plan_id);
CREATE INDEX subscriptions_due ON customers.subscriptions (next_billing_date)
    WHERE status IN ('trialing', 'active', 'past_due');

-- The catalog a fresh install sells: PRO, TEAM (per seat) and ENTERPRISE, monthly and yearly
-- (a year costs ten months). Prices in satang, excluding VAT. Fixed ids so that every install
-- (and the demo) names the same rows.
INSERT INTO customers.plan_catalog (id, code, name_th, name_en, description_th, description_en, billing_interval, interval_count, price, currency, pricing, trial_days, features, limits, metered, active, version, previous_version_id, created_at, updated_at, archived_at) VALUES
    ('01940000-0000-7000-8000-000000000101', 'PRO', 'โปร', 'Pro',
     'สำหรับฟาร์มขนาดเล็กและกลาง: วางแผนการเพาะปลูก บันทึกแปลง พยากรณ์อากาศรายแปลง และรายงานผลผลิต',
     'For small and medium farms: crop planning, field records, per-plot weather forecasts and harvest reports.',
     'month', 1, 99000, 'THB', 'flat', 14,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications"]',
     '{"farms":3,"plots":50,"users":3,"sensors":0}',
     '[]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL),
    ('01940000-0000-7000-8000-000000000102', 'PRO', 'โปร', 'Pro',
     'สำหรับฟาร์มขนาดเล็กและกลาง: วางแผนการเพาะปลูก บันทึกแปลง พยากรณ์อากาศรายแปลง และรายงานผลผลิต',
     'For small and medium farms: crop planning, field records, per-plot weather forecasts and harvest reports.',
     'year', 1, 990000, 'THB', 'flat', 14,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications"]',
     '{"farms":3,"plots":50,"users":3,"sensors":0}',
     '[]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL),
    ('01940000-0000-7000-8000-000000000201', 'TEAM', 'ทีม', 'Team',
     'สำหรับสหกรณ์และทีมงานฟาร์ม คิดค่าบริการต่อผู้ใช้: มอบหมายงาน คลังปัจจัยการผลิต รายงานสหกรณ์ และแดชบอร์ดเซนเซอร์',
     'For co-operatives and farm teams, priced per seat: task assignment, input inventory, co-op reports and a sensor dashboard.',
     'month', 1, 39000, 'THB', 'per_seat', 14,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications","team_tasks","input_inventory","co_op_reports","sensor_dashboard"]',
     '{"farms":20,"plots":500,"users":null,"sensors":20}',
     '[{"metric":"sms_alerts","unit_price":50,"included_units":500}]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL),
    ('01940000-0000-7000-8000-000000000202', 'TEAM', 'ทีม', 'Team',
     'สำหรับสหกรณ์และทีมงานฟาร์ม คิดค่าบริการต่อผู้ใช้: มอบหมายงาน คลังปัจจัยการผลิต รายงานสหกรณ์ และแดชบอร์ดเซนเซอร์',
     'For co-operatives and farm teams, priced per seat: task assignment, input inventory, co-op reports and a sensor dashboard.',
     'year', 1, 390000, 'THB', 'per_seat', 14,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications","team_tasks","input_inventory","co_op_reports","sensor_dashboard"]',
     '{"farms":20,"plots":500,"users":null,"sensors":20}',
     '[{"metric":"sms_alerts","unit_price":50,"included_units":6000}]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL),
    ('01940000-0000-7000-8000-000000000301', 'ENTERPRISE', 'องค์กร', 'Enterprise',
     'สำหรับธุรกิจเกษตรขนาดใหญ่: ฟาร์มไม่จำกัด ภาพถ่ายดาวเทียม เซนเซอร์ IoT การเชื่อมต่อ API ระบบ SSO และผู้ดูแลบัญชีเฉพาะ',
     'For agri-businesses: unlimited farms, satellite imagery, IoT sensors, API access, single sign-on and a dedicated account manager.',
     'month', 1, 990000, 'THB', 'flat', 0,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications","team_tasks","input_inventory","co_op_reports","sensor_dashboard","iot_sensors","satellite_imagery","api_access","sso","priority_support","dedicated_account_manager"]',
     '{"farms":null,"plots":null,"users":null,"sensors":500}',
     '[{"metric":"satellite_images","unit_price":5000,"included_units":100,"tiers":[{"up_to":1000,"unit_price":5000},{"up_to":null,"unit_price":3000}]}]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL),
    ('01940000-0000-7000-8000-000000000302', 'ENTERPRISE', 'องค์กร', 'Enterprise',
     'สำหรับธุรกิจเกษตรขนาดใหญ่: ฟาร์มไม่จำกัด ภาพถ่ายดาวเทียม เซนเซอร์ IoT การเชื่อมต่อ API ระบบ SSO และผู้ดูแลบัญชีเฉพาะ',
     'For agri-businesses: unlimited farms, satellite imagery, IoT sensors, API access, single sign-on and a dedicated account manager.',
     'year', 1, 9900000, 'THB', 'flat', 0,
     '["crop_planning","field_records","weather_forecast","harvest_reports","line_notifications","team_tasks","input_inventory","co_op_reports","sensor_dashboard","iot_sensors","satellite_imagery","api_access","sso","priority_support","dedicated_account_manager"]',
     '{"farms":null,"plots":null,"users":null,"sensors":500}',
     '[{"metric":"satellite_images","unit_price":5000,"included_units":1200,"tiers":[{"up_to":12000,"unit_price":5000},{"up_to":null,"unit_price":3000}]}]',
     true, 1, NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', NULL);
