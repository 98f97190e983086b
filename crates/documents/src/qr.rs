//! The PromptPay QR: which payload an invoice carries, and its modules as vector rectangles
//! (crisp at any zoom and in print, and no image codec in the binary).

use krilla::geom::{PathBuilder, Rect};
use krilla::surface::Surface;
use qrcode::{Color, EcLevel, QrCode};
use satang_domain::money::{Currency, Money};
use satang_domain::promptpay::{PromptPayId, promptpay_payload};

use crate::{DocumentStatus, InvoiceDocument};

/// The PromptPay payload for what `doc` still asks to be paid: only for an open or
/// uncollectible THB invoice with an amount due and a seller PromptPay id. `None` otherwise
/// (including an id that no longer parses: the document is still worth printing without a QR).
pub fn promptpay_qr_payload(doc: &InvoiceDocument) -> Option<String> {
    let payable = matches!(
        doc.status,
        DocumentStatus::Open | DocumentStatus::Uncollectible
    );
    if !payable || doc.amount_due <= 0 || doc.currency != Currency::Thb {
        return None;
    }
    let id = PromptPayId::parse(doc.seller.promptpay_id.as_deref()?).ok()?;
    promptpay_payload(&id, Some(Money::thb(doc.amount_due))).ok()
}

/// Draws the QR of `payload` in the square at (`x`, `y`) of side `size`, quiet zone included,
/// in the surface's current fill. Returns `false` if the payload does not fit a QR code.
pub fn draw_qr(surface: &mut Surface, payload: &str, (x, y): (f32, f32), size: f32) -> bool {
    let Ok(code) = QrCode::with_error_correction_level(payload, EcLevel::M) else {
        return false;
    };
    let width = code.width();
    // The standard asks for a quiet zone of four modules around the code.
    let module = size / (width + 8) as f32;
    let origin = (x + 4.0 * module, y + 4.0 * module);
    let mut path = PathBuilder::new();
    for (i, colour) in code.to_colors().into_iter().enumerate() {
        if colour != Color::Dark {
            continue;
        }
        let (col, row) = ((i % width) as f32, (i / width) as f32);
        // A hair wider than a module so that neighbours touch without hairline gaps.
        let rect = Rect::from_xywh(
            origin.0 + col * module,
            origin.1 + row * module,
            module + 0.05,
            module + 0.05,
        );
        if let Some(rect) = rect {
            path.push_rect(rect);
        }
    }
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
    true
}
