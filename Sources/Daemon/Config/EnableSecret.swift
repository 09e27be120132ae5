import Crypto
import CryptoExtras
import Glibc

/// `enable secret` hashing: Cisco's type 9, i.e. scrypt (N=16384, r=1, p=1, 32 bytes) over a
/// random 14-character salt, written `$9$SALT$HASH` in Cisco's base64 alphabet. The password is
/// never stored or printed; a secret saved by a Cisco device verifies here and vice versa.
public enum EnableSecret {
    static let alphabet = Array("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Hashes `password` with a fresh random salt. Takes tens of milliseconds: run it off the
    /// control-plane thread.
    public static func hash(_ password: String) throws -> String {
        // SystemRandomNumberGenerator is the kernel's CSPRNG (getrandom) on Linux.
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<14).map { _ in alphabet[Int.random(in: 0..<64, using: &generator)] }
        return try hash(password, salt: String(decoding: salt, as: UTF8.self))
    }

    public static func hash(_ password: String, salt: String) throws -> String {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: Array(salt.utf8), outputByteCount: 32, rounds: 16384,
            blockSize: 1, parallelism: 1)
        let bytes = key.withUnsafeBytes { Array($0) }
        return "$9$" + salt + "$" + encode(bytes)
    }

    /// Checks `password` against a stored `$9$SALT$HASH` in constant time.
    public static func verify(_ password: String, against stored: String) -> Bool {
        guard isWellFormed(stored) else { return false }
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard let computed = try? hash(password, salt: String(parts[2])) else { return false }
        let a = Array(computed.utf8)
        let b = Array(stored.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    /// `$9$` + 14 salt characters + `$` + 43 hash characters, all from the alphabet.
    public static func isWellFormed(_ stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "9", parts[2].count == 14, parts[3].count == 43
        else { return false }
        return (parts[2] + parts[3]).utf8.allSatisfy { alphabet.contains($0) }
    }

    /// Base64 with Cisco's alphabet and no padding (32 bytes give 43 characters).
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            let characters = chunk.count + 1
            for position in 0..<characters {
                out.append(alphabet[Int(value >> (18 - 6 * UInt32(position)) & 0x3f)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
