import { describe, expect, it } from "vitest";
import { initials, label, money, parseDollars, plural, relative } from "../src/lib/format";

describe("money", () => {
  it("shows cents as whole dollars, compact when asked", () => {
    expect(money(45_000_000)).toBe("$450,000");
    expect(money(1_479_000_000, true)).toBe("$14.8M");
    expect(money(null)).toBe("—");
  });
  it("reads what people type for amounts", () => {
    expect(parseDollars("450,000")).toBe(45_000_000);
    expect(parseDollars("$1.25m")).toBe(125_000_000);
    expect(parseDollars(" 950k ")).toBe(95_000_000);
    expect(parseDollars("12.34")).toBe(1234);
    expect(parseDollars("abc")).toBeNull();
    expect(parseDollars("")).toBeNull();
    expect(parseDollars("-5")).toBeNull();
  });
});

describe("words", () => {
  it("turns enum values into labels", () => {
    expect(label("DO_NOT_CONTACT")).toBe("Do not contact");
    expect(label("GROWTH")).toBe("Growth");
    expect(label(null)).toBe("—");
  });
  it("makes initials and plurals", () => {
    expect(initials("Ann Lee")).toBe("AL");
    expect(initials("  madonna ")).toBe("M");
    expect(initials("Mary Jane Watson")).toBe("MW");
    expect(plural(1, "contact")).toBe("1 contact");
    expect(plural(100000, "contact")).toBe("100,000 contacts");
  });
});

describe("relative times", () => {
  const now = new Date("2026-11-25T12:00:00Z");
  it("reads past and future instants", () => {
    expect(relative("2026-11-25T11:59:40Z", now)).toBe("just now");
    expect(relative("2026-11-25T11:55:00Z", now)).toBe("5 min ago");
    expect(relative("2026-11-25T09:00:00Z", now)).toBe("3 h ago");
    expect(relative("2026-11-24T12:00:00Z", now)).toBe("yesterday");
    expect(relative("2026-11-25T14:00:00Z", now)).toBe("in 2 h");
    expect(relative("2026-11-28T12:00:00Z", now)).toBe("in 3 days");
    expect(relative(null, now)).toBe("never");
    expect(relative("not a date", now)).toBe("—");
  });
});
