//! [`ByConfig`]: a fixed list of queues, whatever the group looks like (Java
//! `AllocateMessageQueueByConfig`).

use ferrimq_remoting::body::MessageQueue;

use super::{AllocateError, AllocateStrategy};

/// Always the configured queues.
#[derive(Debug, Clone, Default)]
pub struct ByConfig {
    /// The queues this consumer takes.
    pub queues: Vec<MessageQueue>,
}

impl ByConfig {
    /// A strategy answering `queues`.
    pub fn new(queues: Vec<MessageQueue>) -> Self {
        ByConfig { queues }
    }
}

impl AllocateStrategy for ByConfig {
    fn name(&self) -> String {
        "CONFIG".to_owned()
    }

    fn allocate(
        &self,
        _group: &str,
        _current_cid: &str,
        _mq_all: &[MessageQueue],
        _cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        Ok(self.queues.clone())
    }
}
