/// A small JSON document built as a value, for answers that are not on the
/// hot path (health checks, admin views): keys keep the order given.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        a.bytes == b.bytes
    }

    public func write(to w: inout JSONWriter) {
        switch self {
        case .null: w.raw("null")
        case .bool(let b): b ? w.raw("true") : w.raw("false")
        case .int(let n): w.int(n)
        case .double(let d):
            guard d.isFinite else { w.raw("null"); return }
            if d == d.rounded(), abs(d) < 1e15 { w.int(Int64(d)); return }
            var text = "\(d)"
            text.withUTF8 { t in w.write(maxBytes: t.count) { $0.raw(t) } }
        case .string(let s): w.string(s)
        case .array(let items):
            w.raw("[")
            for (i, v) in items.enumerated() {
                if i > 0 { w.raw(", ") }
                v.write(to: &w)
            }
            w.raw("]")
        case .object(let fields):
            w.raw("{")
            for (i, (k, v)) in fields.enumerated() {
                if i > 0 { w.raw(", ") }
                w.string(k)
                w.raw(": ")
                v.write(to: &w)
            }
            w.raw("}")
        }
    }

    public var bytes: [UInt8] {
        var w = JSONWriter(capacity: 512)
        write(to: &w)
        return w.bytes
    }
}
