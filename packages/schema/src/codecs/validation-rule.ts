/* Business validation rule: a rule was created, changed, deleted, or assigned to (or taken from) a campaign, code or tier. */
import * as t from 'io-ts';
import { nullable, struct } from './common.js';
import { SimpleCampaign, SimpleVoucher, subject } from './entities.js';

/** A validation rule (`val_…`); its rules and what it applies to are kept whole. */
export const ValidationRule = subject('ValidationRule', {
  name: t.string,
  type: t.string,
  rules: nullable(t.UnknownRecord),
  error: nullable(t.UnknownRecord),
  applicable_to: nullable(t.UnknownRecord),
  context_type: t.string,
  created_at: t.string,
  updated_at: nullable(t.string),
  object: t.string,
});
export type ValidationRule = t.TypeOf<typeof ValidationRule>;

/** `data` of `business_validation_rule.{created,updated,deleted}`: the rule is the subject. */
export const ValidationRuleData = struct(
  'ValidationRuleData',
  { rule: ValidationRule },
  { created_at: t.string, updated_at: t.string, deleted_at: t.string },
);
/** A business validation rule was created, changed or deleted. */
export type ValidationRuleData = t.TypeOf<typeof ValidationRuleData>;

/** A rule's assignment (`asgm_…`) to a campaign, code, promotion tier, earning rule or distribution. */
export const RuleAssignment = subject('RuleAssignment', {
  rule_id: t.string,
  related_object_id: t.string,
  related_object_type: t.string,
  created_at: t.string,
  updated_at: nullable(t.string),
  object: t.string,
});
export type RuleAssignment = t.TypeOf<typeof RuleAssignment>;

/** `data` of `business_validation_rule.assignment.{created,deleted}`: the assignment is the subject; what it ties the rule to comes along. */
export const RuleAssignmentData = struct(
  'RuleAssignmentData',
  { rule: ValidationRule, assignment: RuleAssignment },
  {
    voucher: nullable(SimpleVoucher),
    campaign: nullable(SimpleCampaign),
    distribution: nullable(t.UnknownRecord),
    promotion_tier: nullable(t.UnknownRecord),
    earning_rule: nullable(t.UnknownRecord),
  },
);
/** A business validation rule was assigned to something, or the assignment removed. */
export type RuleAssignmentData = t.TypeOf<typeof RuleAssignmentData>;

/** The business validation rule events. */
export const VALIDATION_RULE_EVENTS = {
  'business_validation_rule.created': ValidationRuleData,
  'business_validation_rule.updated': ValidationRuleData,
  'business_validation_rule.deleted': ValidationRuleData,
  'business_validation_rule.assignment.created': RuleAssignmentData,
  'business_validation_rule.assignment.deleted': RuleAssignmentData,
} as const;
