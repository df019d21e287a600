//! M2M (money-transfer widget): `x-m2m-signature` over `<x-m2m-timestamp>.<body>`.

use super::{Extracted, Provider, ProviderId};
use crate::envelope::EventType;
use crate::normalize::DataFields;
use crate::verify::Scheme;

pub static PROVIDER: Provider = Provider {
    id: ProviderId::M2m,
    scheme: Scheme {
        signature_header: "x-m2m-signature",
        timestamp_header: Some("x-m2m-timestamp"),
        signature_prefix: Some("sha256="),
    },
    secret_env: "M2M_WEBHOOK_SECRET",
    extract,
};

fn extract(event: &str, data: &DataFields) -> Extracted {
    let (event_type, subject) = match event {
        "link.created" => (EventType::M2mLinkCreated, &data.link_id),
        "link.opened" => (EventType::M2mLinkOpened, &data.link_id),
        "user.data_request" => (EventType::M2mUserDataRequest, &data.data_request_id),
        "operation.created" => (EventType::M2mOperationCreated, &data.operation_id),
        "operation.cancelled" => (EventType::M2mOperationCancelled, &data.operation_id),
        _ => {
            return Extracted {
                event_type: None,
                subject: None,
                user_id: data.reference_id.clone(),
            }
        }
    };
    Extracted {
        event_type: Some(event_type),
        subject: subject.clone(),
        user_id: data.reference_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> DataFields {
        DataFields::parse(json)
    }

    #[test]
    fn each_event_maps_to_its_type_and_entity() {
        let data = fields(
            r#"{"linkId":"l-1","dataRequestId":"d-1","operationId":"o-1","referenceId":"u-9"}"#,
        );
        let cases = [
            ("link.created", EventType::M2mLinkCreated, "l-1"),
            ("link.opened", EventType::M2mLinkOpened, "l-1"),
            ("user.data_request", EventType::M2mUserDataRequest, "d-1"),
            ("operation.created", EventType::M2mOperationCreated, "o-1"),
            (
                "operation.cancelled",
                EventType::M2mOperationCancelled,
                "o-1",
            ),
        ];
        for (event, ty, subject) in cases {
            let got = extract(event, &data);
            assert_eq!(got.event_type, Some(ty), "{event}");
            assert_eq!(got.subject.as_deref(), Some(subject), "{event}");
            assert_eq!(got.user_id.as_deref(), Some("u-9"), "{event}");
        }
    }

    #[test]
    fn unknown_event_has_no_type() {
        let got = extract("link.deleted", &fields(r#"{"linkId":"l-1"}"#));
        assert_eq!(got.event_type, None);
    }
}
