package io.ferrimq.compat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Reads one stored record straight from the commit-log files of a running broker's store directory,
 * decoding it without inflating the body, so the manifest can carry the exact stored SYSFLAG and
 * stored (compressed) body bytes that the client hides.
 */
final class StoredRecords {
    private final Path commitLogDir;
    private final long fileSize;

    StoredRecords(Path storeRoot, long fileSize) {
        this.commitLogDir = storeRoot.resolve("commitlog");
        this.fileSize = fileSize;
    }

    MessageExt read(long commitLogOffset, int size) throws IOException {
        long fileStart = commitLogOffset - commitLogOffset % fileSize;
        Path file = commitLogDir.resolve(String.format("%020d", fileStart));
        byte[] raw = new byte[size];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(commitLogOffset - fileStart);
            f.readFully(raw);
        }
        MessageExt msg = MessageDecoder.decode(ByteBuffer.wrap(raw), true, false, false, false, true);
        if (msg == null) {
            throw new IOException("record at commit-log offset " + commitLogOffset + " in " + file
                + " does not decode (or fails its body CRC)");
        }
        if (msg.getCommitLogOffset() != commitLogOffset) {
            throw new IOException("record at " + commitLogOffset + " in " + file + " claims physical offset "
                + msg.getCommitLogOffset());
        }
        return msg;
    }
}
