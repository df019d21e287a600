//! Transfers (bank transfer charges): `X-Transfers-Signature` over the raw body.
//! No timestamp is signed: redeliveries are recognised by the deterministic event id.

use super::{Extracted, Provider, ProviderId};
use crate::envelope::EventType;
use crate::normalize::DataFields;
use crate::verify::Scheme;

pub static PROVIDER: Provider = Provider {
    id: ProviderId::Transfers,
    scheme: Scheme {
        signature_header: "x-transfers-signature",
        timestamp_header: None,
        signature_prefix: None,
    },
    secret_env: "TRANSFERS_SIGNATURE_TOKEN",
    extract,
};

fn extract(event: &str, data: &DataFields) -> Extracted {
    let event_type = match (event, data.status.as_deref()) {
        ("Payment.Status", Some("Completed")) => Some(EventType::TransfersPaymentCompleted),
        ("Payment.Status", Some("Failed")) => Some(EventType::TransfersPaymentFailed),
        _ => None,
    };
    Extracted {
        event_type,
        subject: event_type.and(data.payment_reference.clone()),
        user_id: data.user_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_status_maps_by_status() {
        for (status, ty) in [
            ("Completed", Some(EventType::TransfersPaymentCompleted)),
            ("Failed", Some(EventType::TransfersPaymentFailed)),
            ("Pending", None),
        ] {
            let data = DataFields::parse(&format!(
                r#"{{"status":"{status}","userId":"u-1","paymentReference":"p-1"}}"#
            ));
            let got = extract("Payment.Status", &data);
            assert_eq!(got.event_type, ty, "{status}");
            assert_eq!(got.user_id.as_deref(), Some("u-1"));
        }
    }

    #[test]
    fn other_event_names_are_unknown() {
        let data = DataFields::parse(r#"{"status":"Completed"}"#);
        assert_eq!(extract("Payment.Refund", &data).event_type, None);
    }
}
