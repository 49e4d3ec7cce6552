import { Empty, PageHeader } from "../components/ui";

/**
 * Documents of transaction loops (upload, versions, review queue, PDF viewer). The encrypted
 * document vault is being built in strive-replica; this screen is where it will be wired.
 */
export function Documents() {
  return (
    <div className="page">
      <PageHeader title="Documents" subtitle="Contracts, disclosures and inspections of your transactions, encrypted on this device before they leave it." />
      <Empty title="Documents are coming to this device">
        Upload by drag and drop, keep versions, submit for review and read PDFs right here. Brokers will find a review queue on this screen.
      </Empty>
    </div>
  );
}
