import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { CommandError, permissions, readyBackend, tinyPdf } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

const pdf = () => Buffer.from(tinyPdf("Inspection report"));

describe("a loop's documents", () => {
  it("lists them with their status, and adds a file from the picker with progress", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/loops/l-1");
    await page.getByText("Purchase agreement.pdf").waitFor();
    await page.locator(".badge", { hasText: "Submitted" }).first().waitFor();
    await page.locator("[data-testid=document-picker]").setInputFiles({ name: "Home inspection report.pdf", mimeType: "application/pdf", buffer: pdf() });
    await page.getByText("Added Home inspection report.pdf: encrypted on this device").waitFor();
    await page.getByText("Home inspection report.pdf").first().waitFor();
    await page.getByText("To upload").first().waitFor();
    await shot(page, "loop-documents");
    const finish = calls.find((c) => c.cmd === "upload_finish");
    expect(finish?.args).toMatchObject({ loopId: "l-1", documentType: "INSPECTION", versionOf: null });
    expect(calls.filter((c) => c.cmd === "upload_chunk").length).toBe(1);
    await page.close();
  });

  it("adds a dropped file, and sends a big one in chunks", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/loops/l-1");
    await page.getByText("Purchase agreement.pdf").waitFor();
    const drop = await page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(2.5 * 1024 * 1024)], "Title commitment.pdf", { type: "application/pdf" }));
      return dt;
    });
    await page.locator("[data-testid=dropzone]").dispatchEvent("drop", { dataTransfer: drop });
    await page.getByText("Added Title commitment.pdf").waitFor();
    expect(calls.filter((c) => c.cmd === "upload_chunk").length).toBe(3);
    expect(calls.find((c) => c.cmd === "upload_finish")?.args.documentType).toBe("TITLE");
    await page.close();
  });

  it("shows why a file was refused", async () => {
    const reason = "This kind of file is not accepted (executable)";
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      upload_finish: () => { throw new CommandError({ code: "rejected", message: reason }); },
    }, "#/loops/l-1");
    await page.getByText("Purchase agreement.pdf").waitFor();
    await page.locator("[data-testid=document-picker]").setInputFiles({ name: "setup.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ....") });
    await page.getByText(reason).waitFor();
    await shot(page, "loop-documents-refused");
    expect(calls.some((c) => c.cmd === "upload_cancel")).toBe(true);
    await page.close();
  });

  it("opens a PDF in the app's viewer from its decrypted bytes", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/loops/l-1");
    await page.getByRole("button", { name: "Purchase agreement.pdf" }).click();
    await page.locator("canvas.pdf-page").waitFor();
    await page.getByText("1 page").waitFor();
    await shot(page, "pdf-viewer");
    expect(calls.find((c) => c.cmd === "open_document")?.args).toEqual({ id: "doc-1", version: 2 });
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "v2" }).click();
    await page.getByRole("list", { name: "Versions of Purchase agreement.pdf" }).getByText("v1").waitFor();
    await page.close();
  });

  it("says so when a version cannot be opened here", async () => {
    const message = "This version is not on this device yet; it opens once the server can be reached";
    const { page } = await open(browser, {
      ...readyBackend(),
      open_document: () => { throw new CommandError({ code: "not_on_device", message }); },
    }, "#/loops/l-1");
    await page.getByRole("button", { name: "Seller disclosure.pdf" }).click();
    await page.getByText(message).waitFor();
    await page.close();
  });

  it("submits a draft for review", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/loops/l-1");
    await page.getByRole("button", { name: "Submit for review" }).click();
    await page.getByText("Submitted Seller disclosure.pdf for review").waitFor();
    expect(calls.find((c) => c.cmd === "submit_document")?.args).toEqual({ id: "doc-2" });
    await page.close();
  });

  it("disables adding files with the matrix's reason", async () => {
    const reason = "Your role cannot upload transaction documents";
    const { page } = await open(browser, { ...readyBackend(), permissions: () => permissions("VIEWER", { uploadDocument: reason }) }, "#/loops/l-1");
    const add = page.getByRole("button", { name: "+ Add files" });
    await add.waitFor();
    expect(await add.isDisabled()).toBe(true);
    expect(await add.getAttribute("title")).toBe(reason);
    await page.close();
  });
});

describe("the documents screen", () => {
  it("lets a broker approve, and return only with a note", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/documents");
    const queue = page.getByRole("region", { name: "Review queue" });
    await queue.getByText("Purchase agreement.pdf").waitFor();
    await queue.getByText("submitted by Ben Ortiz", { exact: false }).waitFor();
    await shot(page, "review-queue");
    await queue.getByRole("button", { name: "Return…" }).click();
    await page.getByRole("button", { name: "Return to agent" }).click();
    await page.getByText("Say what needs fixing when returning a document").waitFor();
    await page.fill("textarea[name=note]", "Page 3 needs the buyer's initials");
    await page.getByRole("button", { name: "Return to agent" }).click();
    await page.getByText("Returned Purchase agreement.pdf with your note").waitFor();
    await queue.getByText("Nothing to review").waitFor();
    expect(calls.filter((c) => c.cmd === "review_document").at(-1)?.args).toEqual({ id: "doc-1", decision: "RETURN", note: "Page 3 needs the buyer's initials" });
    await page.close();
  });

  it("approves from the queue", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/documents");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.getByText("Approved Purchase agreement.pdf").waitFor();
    expect(calls.find((c) => c.cmd === "review_document")?.args).toEqual({ id: "doc-1", decision: "APPROVE", note: null });
    await page.close();
  });

  it("has no review queue for agents", async () => {
    const { page } = await open(browser, { ...readyBackend(), permissions: () => permissions("MEMBER", { reviewDocument: "Only owners and admins review documents" }) }, "#/documents");
    await page.getByRole("region", { name: "All documents" }).getByText("Seller disclosure.pdf").waitFor();
    expect(await page.getByRole("region", { name: "Review queue" }).count()).toBe(0);
    await page.close();
  });

  it("sets the watched folder, and shows the shell's field error", async () => {
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      set_watch_folder: (a) => {
        const s = a.setting as { dir: string } | null;
        if (s && s.dir !== "/home/ann/Scans") throw new CommandError({ code: "invalid", message: "Some fields need attention", fields: [{ field: "dir", message: "Choose an existing folder (its full path)" }] });
        return { setting: s, running: !!s, error: null };
      },
    }, "#/documents");
    const box = page.getByRole("region", { name: "Watched folder" });
    await box.getByText("Off").waitFor();
    await page.fill("input[name=watch-dir]", "/nope");
    await box.getByRole("combobox", { name: "Transaction" }).selectOption("l-1");
    await box.getByRole("button", { name: "Watch this folder" }).click();
    await box.getByText("Choose an existing folder (its full path)").waitFor();
    await page.fill("input[name=watch-dir]", "/home/ann/Scans");
    await box.getByRole("button", { name: "Watch this folder" }).click();
    await box.getByText("Watching", { exact: true }).waitFor();
    await shot(page, "documents");
    expect(calls.filter((c) => c.cmd === "set_watch_folder").at(-1)?.args).toEqual({ setting: { dir: "/home/ann/Scans", loop_id: "l-1", document_type: "OTHER" } });
    await page.close();
  });
});
