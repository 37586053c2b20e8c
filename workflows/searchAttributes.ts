import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes, so operators can find a case's workflow in the Temporal UI by stage,
 * region or household. Registered in every namespace used (worker/searchAttributes.ts).
 */
export const CaseStage = defineSearchAttributeKey('CaseStage', SearchAttributeType.KEYWORD);
export const RegionCode = defineSearchAttributeKey('RegionCode', SearchAttributeType.KEYWORD);
export const HouseholdKey = defineSearchAttributeKey('HouseholdKey', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [CaseStage, RegionCode, HouseholdKey];
