# การแจ้งเตือนทางอีเมล ภาษาไทย จำนวนเงินและวันที่ส่งมาแบบจัดรูปแล้ว ($total = "฿1,234.50",
# $due_date = "24 พ.ย. 2569" ปีพุทธศักราช) โค้ดเลือกเพียงว่าอีเมลหนึ่งประกอบด้วยข้อความใดบ้าง

greeting = เรียน { $customer }
closing =
    ขอแสดงความนับถือ
    { $seller }
footer = อีเมลนี้ส่งโดยอัตโนมัติจากระบบเรียกเก็บเงินของ { $seller }

## ออกใบแจ้งหนี้
invoice-issued-subject = ใบแจ้งหนี้เลขที่ { $number } จาก { $seller }
invoice-issued-intro = { $seller } ได้ออกใบแจ้งหนี้/ใบกำกับภาษีเลขที่ { $number } ลงวันที่ { $issue_date } ยอดรวม { $total }
invoice-issued-due = ยอดที่ต้องชำระ { $amount_due } กรุณาชำระภายในวันที่ { $due_date }
invoice-issued-due-now = ยอดที่ต้องชำระ { $amount_due }
invoice-issued-automatic = ระบบจะตัดเงินจากบัตรที่ท่านลงทะเบียนไว้โดยอัตโนมัติ ท่านไม่ต้องดำเนินการใด ๆ
invoice-issued-pay-link = ชำระเงินออนไลน์ (พร้อมเพย์): { $pay_url }
invoice-issued-settled = ใบแจ้งหนี้นี้ไม่มียอดค้างชำระ
invoice-issued-attached = แนบไฟล์ PDF ของใบแจ้งหนี้มาพร้อมอีเมลนี้

## ได้รับชำระเงิน
payment-received-subject = ได้รับชำระเงิน { $amount } สำหรับใบแจ้งหนี้ { $number }
payment-received-intro = ขอบคุณที่ชำระเงิน เราได้รับเงินจำนวน { $amount } สำหรับใบแจ้งหนี้เลขที่ { $number } เมื่อวันที่ { $paid_date }
payment-received-remaining = ยอดคงค้างของใบแจ้งหนี้นี้ { $amount_due }
payment-received-settled = ใบแจ้งหนี้นี้ชำระครบถ้วนแล้ว

## ชำระเงินไม่สำเร็จ
payment-failed-subject = การชำระเงินสำหรับใบแจ้งหนี้ { $number } ไม่สำเร็จ
payment-failed-intro = ระบบไม่สามารถตัดเงินจำนวน { $amount_due } สำหรับใบแจ้งหนี้เลขที่ { $number } จากบัตรที่ท่านลงทะเบียนไว้ได้
payment-failed-retry = ระบบจะลองตัดเงินอีกครั้งในวันที่ { $next_date }
payment-failed-no-retry = ระบบจะไม่ลองตัดเงินจากบัตรนี้อีก
payment-failed-action = กรุณาปรับปรุงข้อมูลบัตร หรือชำระผ่านพร้อมเพย์หรือโอนเงินผ่านธนาคาร เพื่อให้ใช้บริการได้ต่อเนื่อง

## ช่วงทดลองใช้ใกล้สิ้นสุด
trial-ending-subject = ช่วงทดลองใช้ { $plan } จะสิ้นสุดในวันที่ { $trial_end }
trial-ending-intro = ช่วงทดลองใช้แพ็กเกจ { $plan } ของท่านจะสิ้นสุดในวันที่ { $trial_end } (อีก { $days } วัน)
trial-ending-next = หลังจากนั้นจะเรียกเก็บค่าบริการ { $price } ต่อ{ $interval ->
        [year] ปี
       *[month] เดือน
    } (ยังไม่รวมภาษีมูลค่าเพิ่ม) หากต้องการเปลี่ยนแพ็กเกจหรือยกเลิก กรุณาดำเนินการก่อนสิ้นสุดช่วงทดลองใช้

## การสมัครใช้บริการเปลี่ยนแปลง
subscription-changed-subject = { $change ->
        [plan_changed] เปลี่ยนแพ็กเกจเป็น { $plan } แล้ว
        [plan_change_scheduled] แพ็กเกจจะเปลี่ยนเป็น { $plan } ในวันที่ { $date }
        [pending_change_canceled] ยกเลิกการเปลี่ยนแพ็กเกจที่กำหนดไว้แล้ว
        [paused] พักการใช้บริการ { $plan } แล้ว
        [resumed] กลับมาใช้บริการ { $plan } แล้ว
        [cancel_scheduled] บริการ { $plan } จะสิ้นสุดในวันที่ { $date }
        [canceled] ยกเลิกบริการ { $plan } แล้ว
       *[other] การสมัครใช้บริการ { $plan } มีการเปลี่ยนแปลง
    }
subscription-changed-body = { $change ->
        [plan_changed] การสมัครใช้บริการของท่านเปลี่ยนเป็นแพ็กเกจ { $plan } ({ $quantity } × { $price } ต่อรอบ) ตั้งแต่วันที่ { $date } ส่วนต่างค่าบริการ (ถ้ามี) จะออกเป็นใบแจ้งหนี้แยก
        [plan_change_scheduled] การสมัครใช้บริการของท่านจะเปลี่ยนเป็นแพ็กเกจ { $plan } ({ $quantity } × { $price } ต่อรอบ) เมื่อสิ้นสุดรอบปัจจุบัน ในวันที่ { $date }
        [pending_change_canceled] การเปลี่ยนแพ็กเกจที่กำหนดไว้เมื่อสิ้นรอบถูกยกเลิกแล้ว ท่านยังคงใช้แพ็กเกจ { $plan } ต่อไป
        [paused] พักการใช้บริการ { $plan } ตั้งแต่วันที่ { $date } ระหว่างพักจะไม่มีการออกใบแจ้งหนี้
        [resumed] กลับมาใช้บริการ { $plan } ตั้งแต่วันที่ { $date }
        [cancel_scheduled] บริการ { $plan } จะสิ้นสุดในวันที่ { $date } เมื่อครบรอบที่ชำระไว้แล้ว ระหว่างนี้ยังใช้งานได้ตามปกติ
        [canceled] ยกเลิกบริการ { $plan } แล้วเมื่อวันที่ { $date }
       *[other] การสมัครใช้บริการ { $plan } มีการเปลี่ยนแปลง
    }

## การใช้งานถึงเกณฑ์แจ้งเตือน
usage-threshold-subject = การใช้งาน { $metric } ของท่านถึง { $threshold } แล้ว
usage-threshold-body = การใช้บริการแพ็กเกจ { $plan } ของท่านมีการใช้งาน { $metric } รวม { $usage } ตั้งแต่วันที่ { $period_start } ถึงวันที่ { $period_end } ซึ่งถึงเกณฑ์แจ้งเตือนที่ { $threshold } แล้ว การใช้งานที่เกินสิทธิ์ของแพ็กเกจอาจถูกเรียกเก็บในใบแจ้งหนี้ฉบับถัดไป
