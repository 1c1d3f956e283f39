package io.ferrimq.compat;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/**
 * Minimal, dependency-free JSON object writer for one manifest line.
 *
 * <p>Fields are written in the order they are added, so two programs that add the same fields produce
 * byte-identical lines for identical messages. Only the value kinds the manifest needs are supported.
 */
final class JsonLine {
    private final StringBuilder out = new StringBuilder(256);
    private boolean first = true;

    JsonLine() {
        out.append('{');
    }

    JsonLine str(String name, String value) {
        key(name);
        if (value == null) {
            out.append("null");
        } else {
            quote(value);
        }
        return this;
    }

    JsonLine num(String name, long value) {
        key(name);
        out.append(value);
        return this;
    }

    JsonLine bytes(String name, byte[] value) {
        return str(name, value == null ? null : Base64.getEncoder().encodeToString(value));
    }

    /** Writes a string map; the caller passes a sorted map to keep the output deterministic. */
    JsonLine map(String name, Map<String, String> value) {
        key(name);
        out.append('{');
        boolean firstEntry = true;
        for (Map.Entry<String, String> e : value.entrySet()) {
            if (!firstEntry) {
                out.append(',');
            }
            firstEntry = false;
            quote(e.getKey());
            out.append(':');
            quote(e.getValue());
        }
        out.append('}');
        return this;
    }

    String finish() {
        return out.append('}').toString();
    }

    private void key(String name) {
        if (!first) {
            out.append(',');
        }
        first = false;
        quote(name);
        out.append(':');
    }

    private void quote(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** UTF-8 bytes of the finished line plus a newline. */
    static byte[] lineBytes(String line) {
        return (line + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
