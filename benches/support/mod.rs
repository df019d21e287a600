//! What the CPU benches share: the bodies they measure.

use webhook_gateway::providers::ProviderId;

/// A realistic event padded to `size` bytes.
pub fn body(provider: ProviderId, size: usize) -> Vec<u8> {
    let head = match provider {
        ProviderId::M2m => {
            r#"{"event":"operation.created","data":{"operationId":"op-123456","referenceId":"user-42","amount":{"send":"100.00","receive":"98.50","fee":"1.50"},"status":"completed","createdAt":"2026-11-23T10:00:00Z","note":""#
        }
        ProviderId::Transfers => {
            r#"{"event":"Payment.Status","data":{"status":"Completed","userId":"user-42","paymentReference":"pay-123456","amount":100.23,"description":"Transaction Successful","senderAccountName":"A Sender","sourceAccountNumber":"0123456789","sourceBankCode":"058","destinationAccountNumber":"9876543210","destinationBankCode":"044","note":""#
        }
    };
    let tail = r#""}}"#;
    let mut b = head.as_bytes().to_vec();
    b.resize(size - tail.len(), b'x');
    b.extend_from_slice(tail.as_bytes());
    b
}
