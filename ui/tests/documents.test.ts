import { describe, expect, it } from "vitest";
import { chunkRanges, guessType, percent, CHUNK } from "../src/lib/upload";
import { statusTone } from "../src/lib/documents";
import { bytes } from "../src/lib/format";

describe("uploads", () => {
  it("cut a file into whole chunks and a last short one", () => {
    expect(chunkRanges(0)).toEqual([[0, 0]]);
    expect(chunkRanges(10, 4)).toEqual([[0, 4], [4, 8], [8, 10]]);
    expect(chunkRanges(8, 4)).toEqual([[0, 4], [4, 8]]);
    expect(chunkRanges(CHUNK * 2 + 1).length).toBe(3);
  });
  it("report progress as a bounded whole percent", () => {
    expect(percent(0, 0)).toBe(100);
    expect(percent(1, 3)).toBe(33);
    expect(percent(5, 3)).toBe(100);
  });
  it("guess the document type from the file name", () => {
    expect(guessType("Purchase Agreement - 12 Elm.pdf")).toBe("CONTRACT");
    expect(guessType("seller_disclosure.pdf")).toBe("DISCLOSURE");
    expect(guessType("Home inspection report.pdf")).toBe("INSPECTION");
    expect(guessType("appraisal.pdf")).toBe("APPRAISAL");
    expect(guessType("Title commitment.pdf")).toBe("TITLE");
    expect(guessType("photo.jpg")).toBe("OTHER");
  });
});

describe("document display", () => {
  it("colours review states", () => {
    expect(statusTone("APPROVED")).toBe("ok");
    expect(statusTone("RETURNED")).toBe("bad");
    expect(statusTone("SUBMITTED")).toBe("info");
  });
  it("prints sizes for people", () => {
    expect(bytes(912)).toBe("912 B");
    expect(bytes(14_540)).toBe("14.2 KB");
    expect(bytes(3_250_000)).toBe("3.1 MB");
    expect(bytes(250 * 1024 * 1024)).toBe("250 MB");
  });
});
