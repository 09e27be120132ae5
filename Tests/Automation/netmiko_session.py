#!/usr/bin/env python3
"""Drives a switch the way network automation does: netmiko as cisco_ios over SSH.

  netmiko_session.py --port PORT --user USER --password PW [--secret S] [--lines N]

Connects (netmiko's session preparation: prompt, terminal width 511, terminal length 0), enters
enable, pushes VLAN, SVI, VRRP and NAT lines with send_config_set, saves (write mem), reads back,
and times send_command and a config set of --lines lines. Prints one JSON object: what it read
and the timings, for the test (and the benchmark) to judge."""
import json
import time

from netmiko import ConnectHandler

import switch_login


# The IOS commands whose output ntc-templates' cisco_ios templates parse (issue 12's list; FRR's
# `show vrrp` stays FRR's, IOS's detail is `show vrrp all`).
PARSED = ["show version", "show clock", "show users", "show logging", "show interfaces", "show interfaces status",
          "show interfaces description", "show interfaces switchport", "show vlan", "show vlan brief",
          "show mac address-table", "show ip arp", "show ip route", "show ip interface brief", "show access-lists",
          "show ip access-lists", "show ip nat translations", "show vrrp all", "show vrrp brief",
          "show running-config interface eth3", "show ip interface", "show arp", "show inventory"]


def main():
    parser = switch_login.arguments()
    parser.add_argument("--secret", default="")
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    out = {}
    t0 = time.monotonic()
    conn = ConnectHandler(device_type="cisco_ios", host=args.host, port=args.port, username=args.user,
                          password=args.password, secret=args.secret, timeout=20, conn_timeout=10)
    out["connect_s"] = time.monotonic() - t0
    out["prompt"] = conn.find_prompt()
    conn.enable()
    out["enable_prompt"] = conn.find_prompt()
    config = ["vlan 40", "name automation", "exit", "interface vlan40", "ip address 10.40.0.2/24", "ip nat inside",
              "vrrp 40 ip 10.40.0.1", "vrrp 40 priority 150", "exit",
              "vlan 41", "exit", "interface vlan41", "ip address 198.51.100.2/24", "ip nat outside", "exit",
              "interface eth3", "description automation uplink", "exit",
              "interface eth4", "switchport access vlan 40", "exit",
              "mac address-table static 00:40:00:00:00:01 vlan 40 interface eth4",
              "ip route 0.0.0.0/0 198.51.100.254",
              "access-list 40 permit 10.40.0.0 0.0.0.255",
              "ip nat inside source static 10.40.0.80 198.51.100.80"]
    out["config_output"] = conn.send_config_set(config)
    out["after_config_prompt"] = conn.find_prompt()
    out["save_output"] = conn.save_config()
    out["vrrp"] = conn.send_command("show vrrp summary")
    # Parsed by ntc-templates' cisco_ios template, as automation reads it.
    out["vrrp_brief"] = conn.send_command("show vrrp brief", use_textfsm=True)
    out["version"] = conn.send_command("show version", use_textfsm=True)
    # Every IOS-layout command: how many rows ntc-templates' cisco_ios parser gives (a string
    # back means it could not parse).
    out["parsed_rows"] = {}
    out["parsed"] = {}
    for command in PARSED:
        rows = conn.send_command(command, use_textfsm=True)
        out["parsed_rows"][command] = len(rows) if isinstance(rows, list) else -1
        out["parsed"][command] = rows if isinstance(rows, list) else []
    out["running"] = conn.send_command("show running-config")
    samples = []
    for _ in range(args.repeat):
        t = time.monotonic()
        conn.send_command("show version")
        samples.append(time.monotonic() - t)
    samples.sort()
    out["send_command_median_ms"] = samples[len(samples) // 2] * 1000
    lines = [f"vlan {100 + i // 2}" if i % 2 == 0 else "exit" for i in range(args.lines)]
    t = time.monotonic()
    conn.send_config_set(lines)
    out["config_set_s"] = time.monotonic() - t
    out["config_set_lines"] = len(lines)
    out["vlans"] = conn.send_command("show vlan brief")
    conn.disconnect()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
