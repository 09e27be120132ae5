import Foundation
import Glibc
import Testing
import TestSupport

/// Network automation drives vrrpd as it drives a switch: OpenSSH's sshd (set up by
/// scripts/ssh-access) runs vtysh for each login; netmiko connects as `cisco_ios`, scrapli with
/// its IOS-XE driver. Needs root (a system user, sshd), sshd, netmiko and scrapli (scripts/setup
/// installs them); elsewhere skipped, saying why.
@Suite(.serialized) struct AutomationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    /// A system user of this test process alone: another checkout's tests running at the same
    /// time would otherwise set its password or delete it under this one's logins.
    static let user = "vrrpd-ci-\(getpid())"

    static var skipReason: String? {
        if getuid() != 0 { return "needs root (a system user and sshd); CI runs it as root" }
        if access("/usr/sbin/sshd", X_OK) != 0 { return "OpenSSH's sshd is not installed (scripts/setup installs openssh-server)" }
        let probe = try? Spawned.run("/usr/bin/env", ["python3", "-c", "import netmiko, scrapli, ntc_templates"])
        if probe?.status != 0 { return "netmiko, scrapli or ntc-templates is not installed (scripts/setup installs requirements-automation.txt)" }
        return nil
    }

    /// A TCP port nobody listens on now.
    static func freeTCPPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free TCP port") }
        return UInt16(bigEndian: address.sin_port)
    }

    /// sshd on a free loopback port (scripts/ssh-access) for a login whose shell is vtysh on
    /// `socket`: a password login unless `login` says otherwise (`--key FILE.pub`).
    struct SSHAccess {
        let scratch: Scratch
        let port: UInt16
        let user: String
        let password = "ci-\(getpid())-pw"
        /// What `ssh-access start` printed.
        let started: String

        init(scratch: Scratch, socket: String, user: String = AutomationTests.user, login: [String]? = nil, arguments: [String] = []) throws {
            self.scratch = scratch
            self.user = user
            port = try AutomationTests.freeTCPPort()
            let run = try Spawned.run(
                AutomationTests.root + "/scripts/ssh-access",
                ["start", "--socket", socket, "--port", "\(port)", "--user", user, "--dir", scratch.file("ssh")]
                    + (login ?? ["--password", password]) + arguments,
                environment: ProcessInfo.processInfo.environment.merging(["VRRPD_BIN_DIR": Binaries.directory]) { $1 })
            guard run.status == 0 else { throw TestFailure("ssh-access start failed: \(run.stdout)\(run.stderr)") }
            started = run.stdout + run.stderr
        }

        func stop() {
            _ = try? Spawned.run(AutomationTests.root + "/scripts/ssh-access", ["stop", "--dir", scratch.file("ssh")])
            // The user's own sessions (sshd children, vtysh) end first, or userdel refuses.
            _ = try? Spawned.run("/usr/bin/pkill", ["-KILL", "-u", user])
            usleep(200_000)
            _ = try? Spawned.run("/usr/sbin/userdel", ["--remove", user])
        }

        /// The netmiko session script's JSON.
        func netmiko(_ extra: [String] = []) throws -> [String: Any] {
            let run = try Spawned.run(
                "/usr/bin/env",
                ["python3", AutomationTests.root + "/Tests/Automation/netmiko_session.py", "--port", "\(port)", "--user", user,
                 "--password", password] + extra)
            guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] else {
                throw TestFailure("netmiko failed (\(run.status)): \(run.stdout.suffix(2000)) \(run.stderr.suffix(3000))")
            }
            return object
        }
    }

    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func netmikoConfiguresSavesAndReadsBackOverSSH() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname auto-sw\n")
        let result = try access.netmiko(["--repeat", "5", "--lines", "100"])
        // Prompts as IOS's, no escape sequences around them.
        #expect(result["prompt"] as? String == "auto-sw>", "\(result["prompt"] ?? "")")
        #expect(result["enable_prompt"] as? String == "auto-sw#")
        #expect(result["after_config_prompt"] as? String == "auto-sw#")
        let configOutput = result["config_output"] as? String ?? ""
        #expect(!configOutput.contains("%") && !configOutput.contains("\u{1b}"), "\(configOutput)")
        #expect((result["save_output"] as? String ?? "").contains("[OK]"))
        // What it configured is running, saved, and VRRP runs it.
        let running = result["running"] as? String ?? ""
        #expect(running.contains("interface vlan40\n ip address 10.40.0.2/24") && running.contains(" vrrp 40 priority 150"), "\(running)")
        #expect((result["vrrp"] as? String ?? "").contains("vlan40      40     150"), "\(result["vrrp"] ?? "")")
        // ntc-templates' cisco_ios parser reads the group back as rows.
        let rows = result["vrrp_brief"] as? [[String: String]] ?? []
        #expect(rows.contains { $0["interface"] == "vlan40" && $0["group"] == "40" && $0["priority"] == "150" && $0["virtual_ip_address"] == "10.40.0.1"
            && $0["addr_family"] == "IPv4" && $0["preempt"] == "Y" }, "\(result["vrrp_brief"] ?? "")")
        let version = (result["version"] as? [[String: Any]])?.first ?? [:]
        #expect(version["hostname"] as? String == "auto-sw" && version["version"] as? String == "0.1.0"
            && (version["mac_address"] as? [String])?.count == 1 && (version["serial"] as? [String])?.first?.count == 12, "\(result["version"] ?? "")")
        // Every IOS command of the list parses into rows, and the rows say what was configured.
        let parsed = result["parsed_rows"] as? [String: Int] ?? [:]
        #expect(parsed.count == 23 && parsed.values.allSatisfy { $0 >= 1 }, "rows per command: \(parsed)")
        let tables = result["parsed"] as? [String: [[String: Any]]] ?? [:]
        func row(_ command: String, _ matches: ([String: Any]) -> Bool) -> Bool { (tables[command] ?? []).contains(where: matches) }
        func text(_ row: [String: Any], _ key: String) -> String { row[key] as? String ?? "" }
        #expect(row("show interfaces status") { text($0, "port") == "eth3" && text($0, "name") == "automation uplink" && text($0, "status") == "connected" },
                "\(tables["show interfaces status"] ?? [])")
        #expect(row("show interfaces description") { text($0, "port") == "eth3" && text($0, "description") == "automation uplink" })
        #expect(row("show interfaces switchport") { text($0, "interface") == "eth4" && text($0, "access_vlan") == "40" && text($0, "admin_mode") == "static access" },
                "\(tables["show interfaces switchport"] ?? [])")
        #expect(row("show interfaces") { text($0, "interface") == "vlan40" && text($0, "ip_address") == "10.40.0.2" && text($0, "prefix_length") == "24" })
        #expect(row("show vrrp all") { text($0, "interface") == "vlan40" && text($0, "group") == "40" && text($0, "priority") == "150"
            && text($0, "virtual_ip_address") == "10.40.0.1" && text($0, "virtual_mac_address") == "0000.5e00.0128" }, "\(tables["show vrrp all"] ?? [])")
        #expect(row("show ip nat translations") { text($0, "inside_local_ip") == "10.40.0.80" && text($0, "inside_global_ip") == "198.51.100.80" })
        #expect(row("show ip route") { text($0, "network") == "0.0.0.0" && text($0, "nexthop_ip") == "198.51.100.254" })
        #expect(row("show ip route") { text($0, "network") == "10.40.0.0" && text($0, "nexthop_if") == "vlan40" })
        #expect(row("show mac address-table") { text($0, "destination_address") == "0040.0000.0001" && ($0["destination_port"] as? [String]) == ["eth4"] })
        #expect(row("show ip access-lists") { text($0, "acl_name") == "40" && text($0, "src_network") == "10.40.0.0" && text($0, "src_wildcard") == "0.0.0.255" })
        #expect(row("show running-config interface eth3") { text($0, "interface") == "eth3" && text($0, "description") == "automation uplink" })
        #expect(row("show ip interface") { text($0, "interface") == "vlan40" && ($0["ip_address"] as? [String]) == ["10.40.0.2"] && ($0["prefix_length"] as? [String]) == ["24"] },
                "\(tables["show ip interface"] ?? [])")
        #expect(row("show arp") { text($0, "address") == "10.40.0.2" && text($0, "age_min") == "-" && text($0, "interface") == "vlan40" }, "\(tables["show arp"] ?? [])")
        #expect(row("show inventory") { text($0, "pid").hasPrefix("vrrpd-") && [text($0, "sn")] == (version["serial"] as? [String]) },
                "\(tables["show inventory"] ?? [])")
        #expect(row("show logging") { (($0["message"] as? [String]) ?? []).joined().contains("configuration saved") }, "the save is in the log buffer")
        let saved = scratch.read("vrrpd.conf") ?? ""
        #expect(saved.contains("vrrp 40 ip 10.40.0.1") && saved.contains("access-list 40 permit 10.40.0.0 0.0.0.255"), "\(saved)")
        #expect((result["vlans"] as? String ?? "").contains("149  VLAN0149"))
        // Each SSH login was a vtysh session of its own, gone once it disconnected: only the
        // session asking is left.
        #expect(daemon.waitUntilTrue(10) { (try? daemon.vtysh(["-c", "show users"]).stdout.components(separatedBy: "\n").filter { $0.contains("vtysh") }.count) == 1 })
    }

    /// scrapli's IOS-XE driver: its on_open (enable, terminal length 0, terminal width 512),
    /// send_configs, write memory, parsed show output, a failed command reported as failed.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func scrapliDrivesItAsIOSXE() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname scr-sw\n")
        let run = try Spawned.run(
            "/usr/bin/env",
            ["python3", AutomationTests.root + "/Tests/Automation/scrapli_session.py", "--port", "\(access.port)", "--user", AutomationTests.user,
             "--password", access.password])
        let result = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(run.status == 0, "scrapli failed (\(run.status)): \(run.stdout.suffix(2000)) \(run.stderr.suffix(3000))")
        #expect(result["prompt"] as? String == "scr-sw#", "\(result["prompt"] ?? "")")
        #expect(result["config_failed"] as? Bool == false, "\(result["config_output"] ?? "")")
        #expect((result["save_output"] as? String ?? "").contains("[OK]"))
        let rows = result["vrrp_brief"] as? [[String: String]] ?? []
        #expect(rows.contains { $0["interface"] == "vlan50" && $0["group"] == "50" && $0["priority"] == "120" && $0["virtual_ip_address"] == "10.50.0.1" },
                "\(result["vrrp_brief_raw"] ?? "")")
        let vlans = result["vlans"] as? [[String: Any]] ?? []
        #expect(vlans.contains { $0["vlan_id"] as? String == "50" && $0["vlan_name"] as? String == "scrapli" })
        #expect(result["bad_failed"] as? Bool == true, "an unknown command is a failed response: \(result["bad_output"] ?? "")")
        #expect((scratch.read("vrrpd.conf") ?? "").contains("vrrp 50 priority 120"))
        #expect(try daemon.vtysh(["-c", "show vrrp brief"]).stdout.contains("vlan50"))
    }

    /// Ansible's cisco.ios collection (network_cli over paramiko, become with enable): facts,
    /// ios_config of an SVI with a VRRP group saved when changed, ios_command with wait_for; a
    /// second run changes nothing. Skipped, saying why, where Ansible is not installed.
    @Test(.enabled(if: skipReason == nil && AutomationTests.ansibleMissing == nil, "\(skipReason ?? AutomationTests.ansibleMissing ?? "")"))
    func ansibleConfiguresItIdempotently() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname ans-sw\n")
        func play() throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
            try AutomationTests.playbook("ansible-vrrp.yml", host: "ans-sw", access: access, scratch: scratch)
        }
        let first = try play()
        #expect(first.status == 0 && first.stdout.contains("changed=1") && first.stdout.contains("failed=0"), "\(first.stdout.suffix(3000)) \(first.stderr.suffix(2000))")
        #expect(first.stdout.contains("version=0.1.0 hostname=ans-sw") && first.stdout.contains("vlan70              70 IPv4 140"), "\(first.stdout.suffix(2000))")
        let second = try play()
        #expect(second.status == 0 && second.stdout.contains("changed=0") && second.stdout.contains("failed=0"), "idempotent: \(second.stdout.suffix(3000))")
        let saved = scratch.read("vrrpd.conf") ?? ""
        #expect(saved.contains("interface vlan70\n description set by ansible\n ip address 10.70.0.2/24\n") && saved.contains(" vrrp 70 priority 140"), "\(saved)")
        #expect(try daemon.vtysh(["-c", "show vrrp brief"]).stdout.contains("vlan70"))
    }

    /// A line the switch refuses is a failure to every tool, in the words each looks for:
    /// netmiko's `send_config_set` with `error_pattern` raises, scrapli's `send_configs` is
    /// marked failed, Ansible's `ios_config` fails the task and names the line. Nothing of the
    /// refused lines reaches the configuration.
    @Test(.enabled(if: skipReason == nil && AutomationTests.ansibleMissing == nil, "\(skipReason ?? AutomationTests.ansibleMissing ?? "")"))
    func aRefusedLineFailsEveryTool() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname refuse-sw\n")
        let run = try Spawned.run(
            "/usr/bin/env",
            ["python3", AutomationTests.root + "/Tests/Automation/refused_lines.py", "--port", "\(access.port)", "--user", AutomationTests.user,
             "--password", access.password])
        #expect(run.status == 0, "refused_lines.py failed (\(run.status)): \(run.stdout.suffix(2000)) \(run.stderr.suffix(3000))")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let netmiko = try #require(result["netmiko"] as? [[String: Any]])
        let scrapli = try #require(result["scrapli"] as? [[String: Any]])
        #expect(netmiko.count == 7 && scrapli.count == 7)
        for case let (line?, raised?) in netmiko.map({ ($0["line"] as? String, $0["raised"] as? Bool) }) {
            #expect(raised, "netmiko did not see \"\(line)\" fail: \(netmiko)")
        }
        for case let (line?, failed?) in scrapli.map({ ($0["line"] as? String, $0["failed"] as? Bool) }) {
            #expect(failed, "scrapli did not see \"\(line)\" fail: \(scrapli)")
        }
        // A number out of range is shown under its marker, with the range.
        let range = try #require(scrapli.first?["output"] as? String)
        #expect(range.contains("% Invalid input detected at '^' marker.") && range.contains("% 999 is out of range: 1-254"), "\(range)")

        let play = try AutomationTests.playbook("ansible-refused.yml", host: "refuse-sw", access: access, scratch: scratch)
        #expect(play.status != 0 && play.stdout.contains("failed=1"), "\(play.stdout.suffix(3000)) \(play.stderr.suffix(2000))")
        #expect(play.stdout.contains("vrrp 5 priority 999") && play.stdout.contains("Invalid input detected"), "\(play.stdout.suffix(3000))")
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(!running.contains("vrrp 5") && !running.contains("0200.0000.0001"), "\(running)")
    }

    /// NAPALM's `ios` driver, unchanged, over SSH: every getter runs without an error and the
    /// values are what the configuration says (hostname, version and model, the SVI and its
    /// address, a described access port, a named VLAN, a static MAC, the SVI's own ARP entry,
    /// the process's CPU and memory, the chassis ID).
    @Test(.enabled(if: skipReason == nil && AutomationTests.napalmMissing == nil, "\(skipReason ?? AutomationTests.napalmMissing ?? "")"))
    func napalmGettersReadWhatIsConfigured() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let config = """
            hostname nap-sw
            ip domain name lab.test
            vlan 10
             name users
            interface eth3
             description host port
             switchport access vlan 10
            interface vlan10
             ip address 10.10.0.2/24
            mac address-table static 0200.0000.0001 vlan 10 interface eth3

            """
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: config)
        defer { withExtendedLifetime(daemon) {} }
        let run = try Spawned.run(
            "/usr/bin/env",
            ["python3", AutomationTests.root + "/Tests/Automation/napalm_getters.py", "--port", "\(access.port)", "--user", AutomationTests.user,
             "--password", access.password])
        #expect(run.status == 0, "napalm_getters.py failed (\(run.status)): \(run.stdout.suffix(2000)) \(run.stderr.suffix(3000))")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: [String: Any]])
        for (getter, answer) in out.sorted(by: { $0.key < $1.key }) {
            #expect(answer["error"] == nil, "\(getter): \(answer["error"] ?? "")")
        }
        func result(_ getter: String) -> [String: Any] { out[getter]?["result"] as? [String: Any] ?? [:] }
        func list(_ getter: String) -> [[String: Any]] { out[getter]?["result"] as? [[String: Any]] ?? [] }
        #expect(result("is_alive")["is_alive"] as? Bool == true)
        let facts = result("get_facts")
        #expect(facts["hostname"] as? String == "nap-sw" && facts["fqdn"] as? String == "nap-sw.lab.test" && (facts["os_version"] as? String ?? "").contains("Version 0.1.0")
            && (facts["model"] as? String ?? "").hasPrefix("vrrpd-") && (facts["serial_number"] as? String)?.count == 12, "\(facts)")
        let interfaces = facts["interface_list"] as? [String] ?? []
        #expect(interfaces.contains("eth3") && interfaces.contains("vlan10"), "\(interfaces)")
        #expect(((result("get_interfaces")["eth3"] as? [String: Any])?["description"] as? String) == "host port")
        let ip = (result("get_interfaces_ip")["vlan10"] as? [String: Any])?["ipv4"] as? [String: [String: Int]]
        #expect(ip == ["10.10.0.2": ["prefix_length": 24]] && result("get_interfaces_ip").count == 1, "\(result("get_interfaces_ip"))")
        #expect(list("get_arp_table").contains { $0["ip"] as? String == "10.10.0.2" && $0["interface"] as? String == "vlan10" }, "\(list("get_arp_table"))")
        #expect(list("get_mac_address_table").contains {
            $0["mac"] as? String == "02:00:00:00:00:01" && $0["interface"] as? String == "eth3" && $0["vlan"] as? Int == 10 && $0["static"] as? Bool == true
        }, "\(list("get_mac_address_table"))")
        #expect(((result("get_vlans")["10"] as? [String: Any])?["name"] as? String) == "users", "\(result("get_vlans"))")
        let memory = result("get_environment")["memory"] as? [String: Int] ?? [:]
        #expect((memory["used_ram"] ?? 0) > 1_000_000 && (memory["available_ram"] ?? 0) > (memory["used_ram"] ?? 0), "\(memory)")
        #expect(result("get_snmp_information")["chassis_id"] as? String == facts["serial_number"] as? String, "\(result("get_snmp_information"))")
        #expect((result("get_config")["running"] as? String ?? "").contains("hostname nap-sw"))
    }

    static var napalmMissing: String? {
        let probe = try? Spawned.run("/usr/bin/env", ["python3", "-c", "import napalm"])
        return probe?.status == 0 ? nil : "NAPALM is not installed (scripts/setup installs requirements-automation.txt)"
    }

    /// Runs Tests/Automation/`file` with ansible-playbook against `host` over `access`: network_cli
    /// over paramiko, cisco.ios.ios, become with enable (what Ansible users of IOS configure).
    static func playbook(_ file: String, host: String, access: SSHAccess, scratch: Scratch) throws
        -> (status: Int32, stdout: String, stderr: String, seconds: Double)
    {
        let inventory = """
            switches:
              hosts:
                \(host):
                  ansible_host: 127.0.0.1
                  ansible_port: \(access.port)
                  ansible_user: \(AutomationTests.user)
                  ansible_password: "\(access.password)"
                  ansible_connection: ansible.netcommon.network_cli
                  ansible_network_os: cisco.ios.ios
                  ansible_network_cli_ssh_type: paramiko
                  ansible_become: true
                  ansible_become_method: enable
            """
        try inventory.write(toFile: scratch.file("inventory.yml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["ANSIBLE_HOST_KEY_CHECKING"] = "False"
        environment["ANSIBLE_HOME"] = scratch.file("ansible-home")
        environment["ANSIBLE_NOCOLOR"] = "1"
        return try Spawned.run(
            "/usr/bin/env", ["ansible-playbook", "-i", scratch.file("inventory.yml"), AutomationTests.root + "/Tests/Automation/" + file],
            environment: environment)
    }

    static var ansibleMissing: String? {
        let probe = try? Spawned.run("/usr/bin/env", ["python3", "-c", "import ansible_collections.cisco.ios, ansible_collections.ansible.netcommon"])
        return probe?.status == 0 ? nil : "Ansible's cisco.ios collection is not installed (scripts/setup installs requirements-automation.txt)"
    }

    /// A login that asks for a long `show` and never reads it (its SSH window stays shut): the
    /// daemon and every other session carry on, and its session goes once it is dropped.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func aLoginThatNeverReadsALongShowBlocksNoOne() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let config = (2...4094).map { "vlan \($0)\n name stalled-reader-\($0)\nexit\n" }.joined()
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname slow-sw\n" + config)
        // paramiko with a 4 KiB SSH window: five running-configs (~1 MB) are asked for, a few
        // KiB are read, then nothing for as long as the others work.
        let script = """
            import sys, time, paramiko
            c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            c.connect("127.0.0.1", port=\(access.port), username="\(AutomationTests.user)", password="\(access.password)",
                      look_for_keys=False, allow_agent=False)
            ch = c.get_transport().open_session(window_size=4096, max_packet_size=1024)
            ch.get_pty(term="dumb"); ch.invoke_shell()
            ch.send("enable\\nterminal length 0\\n" + "show running-config\\n" * 5)
            time.sleep(1); ch.recv(4096)
            print("stalled", flush=True)
            time.sleep(60)
            """
        let log = open(scratch.file("stalled.out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let stalled = try Spawned("/usr/bin/env", ["python3", "-c", script], stdin: null, stdout: log, stderr: log)
        close(log)
        close(null)
        #expect(daemon.waitUntilTrue(20) { scratch.read("stalled.out")?.contains("stalled") == true },
                "the stalled reader did not get going: \(scratch.read("stalled.out") ?? "")")
        // Everyone else is served at once: a netmiko login that configures and saves, and a
        // local vtysh.
        let started = Date()
        let next = try access.netmiko(["--repeat", "3", "--lines", "10"])
        #expect(next["enable_prompt"] as? String == "slow-sw#")
        #expect((next["save_output"] as? String ?? "").contains("[OK]"))
        let version = try daemon.vtysh(["-c", "show version"])
        #expect(version.status == 0 && version.stdout.contains("slow-sw"))
        #expect(Date().timeIntervalSince(started) < 30, "the others waited for the stalled reader")
        #expect(stalled.isRunning, "the stalled reader was still there all along")
        // Dropped, its session goes (sshd and vtysh end; the daemon closes the session).
        kill(stalled.pid, SIGKILL)
        _ = stalled.wait()
        #expect(daemon.waitUntilTrue(15) { (try? daemon.vtysh(["-c", "show users"]).stdout.components(separatedBy: "\n").filter { $0.contains("vtysh") }.count) == 1 },
                "the stalled login's session is still open")
    }

    /// A login dropped in configuration mode, half way through a line: the daemon and every
    /// other session carry on.
    @Test(.enabled(if: skipReason == nil, "\(skipReason ?? "")"))
    func aDroppedLoginInConfigurationModeHurtsNoOne() throws {
        let scratch = try Scratch()
        let access = try SSHAccess(scratch: scratch, socket: scratch.file("vrrpd.vty"))
        defer { access.stop() }
        let daemon = try DaemonProcess(scratch: scratch, arguments: ["--socket-group", "vrrpvty"], config: "hostname drop-sw\n")
        let script = """
            import os, sys, time
            from netmiko import ConnectHandler
            c = ConnectHandler(device_type="cisco_ios", host="127.0.0.1", port=\(access.port), username="\(AutomationTests.user)", password="\(access.password)")
            c.enable(); c.config_mode()
            c.write_channel("interface vlan7\\n ip addr")   # half a line, then the connection dies
            time.sleep(0.5)
            os._exit(0)
            """
        let dropped = try Spawned.run("/usr/bin/env", ["python3", "-c", script])
        #expect(dropped.status == 0, "\(dropped.stderr.suffix(2000))")
        // Another login works at once, and the half line changed nothing.
        let next = try access.netmiko(["--repeat", "2", "--lines", "10"])
        #expect(next["enable_prompt"] as? String == "drop-sw#")
        let running = try daemon.vtysh(["-c", "enable", "-c", "show running-config"]).stdout
        #expect(!running.contains("ip addr\n"), "\(running)")
        #expect(daemon.waitUntilTrue(10) { (try? daemon.vtysh(["-c", "show users"]).stdout.components(separatedBy: "\n").filter { $0.contains("vtysh") }.count) == 1 },
                "the dropped login's session is still open")
    }
}
