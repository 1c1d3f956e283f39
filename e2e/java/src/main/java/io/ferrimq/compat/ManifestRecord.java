package io.ferrimq.compat;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.sysflag.MessageSysFlag;

/**
 * One line of the expected-messages manifest, built from what the official Java client decoded.
 *
 * <p>Field meanings (all values are the stored ones unless said otherwise):
 * <ul>
 *   <li>{@code sysFlag}: the SYSFLAG field as stored in the commit log. The client clears
 *       COMPRESSED (0x1) when it inflates a body; when no raw record is available the bit is
 *       restored from the fact that BODYCRC (CRC of the stored bytes) differs from the CRC of the
 *       inflated body.</li>
 *   <li>{@code body}: base64 of the body as the application sees it (inflated).</li>
 *   <li>{@code storedBody}: base64 of the stored (compressed) body bytes; present only for
 *       compressed records whose raw bytes were read (WriteFixture), otherwise absent.</li>
 *   <li>{@code properties}: every stored property, sorted by name, without MIN_OFFSET/MAX_OFFSET,
 *       which the client adds after decoding.</li>
 * </ul>
 */
final class ManifestRecord {
    private ManifestRecord() {
    }

    /**
     * Renders one message.
     *
     * @param msg the message as decoded by the client (body inflated)
     * @param stored the same record decoded from raw commit-log bytes without inflating, or null
     */
    static String render(MessageExt msg, MessageExt stored) {
        JsonLine line = new JsonLine()
            .str("topic", msg.getTopic())
            .num("queueId", msg.getQueueId())
            .num("queueOffset", msg.getQueueOffset())
            .num("commitLogOffset", msg.getCommitLogOffset())
            .num("storeSize", msg.getStoreSize())
            .str("offsetMsgId", offsetMsgId(msg))
            .str("msgId", msg.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX))
            .str("tags", msg.getTags())
            .str("keys", msg.getKeys())
            .num("flag", msg.getFlag())
            .num("sysFlag", storedSysFlag(msg, stored))
            .num("bodyCRC", msg.getBodyCRC())
            .num("bornTimestamp", msg.getBornTimestamp())
            .str("bornHost", hostString(msg.getBornHost()))
            .num("storeTimestamp", msg.getStoreTimestamp())
            .str("storeHost", hostString(msg.getStoreHost()))
            .num("reconsumeTimes", msg.getReconsumeTimes())
            .num("preparedTransactionOffset", msg.getPreparedTransactionOffset())
            .map("properties", storedProperties(msg))
            .bytes("body", msg.getBody());
        if (stored != null && (stored.getSysFlag() & MessageSysFlag.COMPRESSED_FLAG) != 0) {
            line.bytes("storedBody", stored.getBody());
        }
        return line.finish();
    }

    private static String offsetMsgId(MessageExt msg) {
        if (msg instanceof org.apache.rocketmq.common.message.MessageClientExt client) {
            return client.getOffsetMsgId();
        }
        return msg.getMsgId();
    }

    private static int storedSysFlag(MessageExt msg, MessageExt stored) {
        if (stored != null) {
            return stored.getSysFlag();
        }
        int flag = msg.getSysFlag();
        if ((flag & MessageSysFlag.COMPRESSED_FLAG) == 0 && bodyCrc(msg.getBody()) != msg.getBodyCRC()) {
            flag |= MessageSysFlag.COMPRESSED_FLAG;
        }
        return flag;
    }

    static int bodyCrc(byte[] body) {
        CRC32 crc = new CRC32();
        crc.update(body, 0, body.length);
        return (int) (crc.getValue() & 0x7FFFFFFF);
    }

    private static Map<String, String> storedProperties(MessageExt msg) {
        Map<String, String> props = new TreeMap<>(msg.getProperties());
        props.remove(MessageConst.PROPERTY_MIN_OFFSET);
        props.remove(MessageConst.PROPERTY_MAX_OFFSET);
        return props;
    }

    private static String hostString(SocketAddress address) {
        if (address instanceof InetSocketAddress inet) {
            return inet.getAddress().getHostAddress() + ":" + inet.getPort();
        }
        return String.valueOf(address);
    }
}
