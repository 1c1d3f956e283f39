package io.ferrimq.compat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** {@code --name value} command-line options of the compat programs, with clear errors. */
final class Options {
    private final Map<String, String> values = new HashMap<>();
    private final String usage;

    Options(String[] args, String usage) {
        this.usage = usage;
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("bad argument '" + args[i] + "'\nusage: " + usage);
            }
            values.put(args[i].substring(2), args[++i]);
        }
    }

    String required(String name) {
        String v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + name + "\nusage: " + usage);
        }
        return v;
    }

    String optional(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    List<String> list(String name) {
        List<String> out = new ArrayList<>();
        for (String part : required(name).split(",")) {
            if (!part.isBlank()) {
                out.add(part.trim());
            }
        }
        return out;
    }
}
