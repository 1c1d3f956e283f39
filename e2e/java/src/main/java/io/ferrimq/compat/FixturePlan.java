package io.ferrimq.compat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.rocketmq.common.message.Message;

/**
 * The deterministic content of the Java-written fixture: which messages go to which topic and queue.
 *
 * <p>Bodies, tags, keys, flags and user properties depend only on the message's ordinal, so rerunning
 * the fixture produces the same payloads (ids and timestamps differ, they are recorded in the
 * manifest). The plan covers: three topics, several queues, tags and no tag, one and two KEYS, user
 * properties incl. non-ASCII, a non-zero user flag, bodies of 1 B to 6000 B (4095 stays plain, 4096 and
 * above cross the producer's 4 KiB compression threshold), batches, and a queue long enough to span
 * several small ConsumeQueue files.
 */
final class FixturePlan {
    /**
     * Body sizes cycled through by the main topic; 4096 and 6000 are compressed by the producer (4096 is
     * text and shrinks, 6000 is pseudo-random and does not, which keeps the commit log spanning files).
     */
    private static final int[] SIZES = {1, 17, 100, 512, 1000, 2048, 3000, 4095, 4096, 777, 6000, 300};
    private static final String[] TAGS = {"TagA", "TagB", "TagC", null};

    /** A single message destined for one queue. */
    record Single(Message message, int queueId) {
    }

    /** A batch of messages sent in one SEND_BATCH_MESSAGE to one queue. */
    record Batch(List<Message> messages, int queueId) {
    }

    final String mainTopic;
    final String smallTopic;
    final String batchTopic;

    FixturePlan(String mainTopic, String smallTopic, String batchTopic) {
        this.mainTopic = mainTopic;
        this.smallTopic = smallTopic;
        this.batchTopic = batchTopic;
    }

    static final int MAIN_QUEUES = 4;
    static final int SMALL_QUEUES = 2;
    static final int BATCH_QUEUES = 2;

    /** 96 messages over 4 queues of the main topic, bodies cycling through {@link #SIZES}. */
    List<Single> mainMessages() {
        List<Single> out = new ArrayList<>();
        for (int i = 0; i < 96; i++) {
            int size = SIZES[i % SIZES.length];
            Message m = new Message(mainTopic, body(i, size, size == 6000 || size == 3000));
            String tag = TAGS[i % TAGS.length];
            if (tag != null) {
                m.setTags(tag);
            }
            m.setKeys(i % 3 == 0 ? "order-" + i + " customer-" + (i % 7) : "order-" + i);
            m.putUserProperty("seq", Integer.toString(i));
            m.putUserProperty("kind", i % 2 == 0 ? "even" : "odd");
            if (i % 10 == 0) {
                m.putUserProperty("city", "Zürich-東京");
                m.setFlag(7);
            }
            out.add(new Single(m, i % MAIN_QUEUES));
        }
        return out;
    }

    /** 130 small messages, 100 on queue 0 so that queue spans two 60-unit ConsumeQueue files. */
    List<Single> smallMessages() {
        List<Single> out = new ArrayList<>();
        for (int i = 0; i < 130; i++) {
            byte[] payload = body(1000 + i, 40 + (i * 37) % 260, false);
            Message m = new Message(smallTopic, "event", "evt-" + i, payload);
            m.putUserProperty("n", Integer.toString(i));
            out.add(new Single(m, i < 100 ? 0 : 1));
        }
        return out;
    }

    /** Two batches of eight messages, one per queue of the batch topic. */
    List<Batch> batches() {
        List<Batch> out = new ArrayList<>();
        for (int b = 0; b < BATCH_QUEUES; b++) {
            List<Message> msgs = new ArrayList<>();
            for (int j = 0; j < 8; j++) {
                int ordinal = 2000 + b * 8 + j;
                byte[] payload = body(ordinal, 64 + j * 50, false);
                Message m = new Message(batchTopic, "batch" + b, "batch-" + b + "-" + j, payload);
                m.putUserProperty("batch", Integer.toString(b));
                m.putUserProperty("member", Integer.toString(j));
                msgs.add(m);
            }
            out.add(new Batch(msgs, b));
        }
        return out;
    }

    /**
     * A deterministic body: readable text (compresses well) or pseudo-random bytes (does not).
     */
    static byte[] body(int ordinal, int size, boolean binary) {
        byte[] out = new byte[size];
        if (binary) {
            long state = 0x9E3779B97F4A7C15L ^ ordinal;
            for (int i = 0; i < size; i++) {
                state = state * 6364136223846793005L + 1442695040888963407L;
                out[i] = (byte) (state >>> 56);
            }
            return out;
        }
        byte[] text = ("message " + ordinal + " of the ferrimq compatibility fixture; ")
            .getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < size; i++) {
            out[i] = text[i % text.length];
        }
        return out;
    }
}
