import { factsFor } from '../../api/routes/tasks';
import { defaultPolicy } from '../../domain/policy';

const summary = {
  payments: [
    { id: 'c.p1', amountCents: 100_000 },
    { id: 'c.p2', amountCents: 200_000 },
  ],
  paidByYear: { 2027: 100_000 },
  earlierCasesPaidByYear: { 2027: 4_800_000 },
};

describe('the facts a task shows', () => {
  test("an aid approval sees its own payment, this case's and the household's earlier cases' aid, and the cap", () => {
    const facts = factsFor(
      { type: 'aidPaymentApproval', workflowId: 'household-x' },
      { idNumber: '23010219800101123X' },
      summary,
      { paymentId: 'c.p2' },
      defaultPolicy.version,
    );
    expect(facts).toEqual({
      payments: {
        payments: [{ id: 'c.p2', amountCents: 200_000 }],
        paidByYear: { 2027: 100_000 },
        earlierCasesPaidByYear: { 2027: 4_800_000 },
        annualAidCapCents: defaultPolicy.annualAidCapCents,
      },
    });
  });

  test('a quarterly review sees every payment but no ID number', () => {
    const facts = factsFor(
      { type: 'quarterlyReview', workflowId: 'household-x' },
      { idNumber: '23010219800101123X' },
      summary,
      {},
      defaultPolicy.version,
    );
    expect(facts.idNumber).toBeUndefined();
    expect((facts.payments as { payments: unknown[] }).payments).toHaveLength(2);
  });
});
