import { signToken, type Claims } from '../api/auth';

/** The quick start's demo staff: one per agency and role, in one county-level region. */
export const DEMO_REGION = 'hl/harbin/daoli';
export const demoUsers: Array<Omit<Claims, 'exp'>> = [
  {
    sub: 'union-staff',
    name: '工会干部 王',
    agency: 'union',
    roles: ['staff', 'cadre'],
    region: DEMO_REGION,
  },
  {
    sub: 'union-supervisor',
    name: '帮扶中心主任 赵',
    agency: 'union',
    roles: ['staff', 'supervisor'],
    region: DEMO_REGION,
  },
  { sub: 'union-chair', name: '工会主席 陈', agency: 'union', roles: ['chair'], region: DEMO_REGION },
  {
    sub: 'civil-affairs-staff',
    name: '民政 刘',
    agency: 'civil_affairs',
    roles: ['staff'],
    region: DEMO_REGION,
  },
  { sub: 'hr-staff', name: '人社 张', agency: 'hr', roles: ['staff'], region: DEMO_REGION },
  {
    sub: 'medical-insurance-staff',
    name: '医保 孙',
    agency: 'medical_insurance',
    roles: ['staff'],
    region: DEMO_REGION,
  },
  { sub: 'housing-staff', name: '住建 周', agency: 'housing', roles: ['staff'], region: DEMO_REGION },
  {
    sub: 'civil-affairs-supervisor',
    name: '民政科长 钱',
    agency: 'civil_affairs',
    roles: ['staff', 'supervisor'],
    region: DEMO_REGION,
  },
  {
    sub: 'hr-supervisor',
    name: '人社科长 郑',
    agency: 'hr',
    roles: ['staff', 'supervisor'],
    region: DEMO_REGION,
  },
  {
    sub: 'medical-insurance-supervisor',
    name: '医保科长 冯',
    agency: 'medical_insurance',
    roles: ['staff', 'supervisor'],
    region: DEMO_REGION,
  },
  {
    sub: 'housing-supervisor',
    name: '住建科长 何',
    agency: 'housing',
    roles: ['staff', 'supervisor'],
    region: DEMO_REGION,
  },
  {
    sub: 'city-coordinator',
    name: '联席办 吴',
    agency: 'union',
    roles: ['coordinator'],
    region: 'hl/harbin',
  },
];

export function printDemoTokens(secret: string): void {
  process.stdout.write('\nDemo bearer tokens (valid 12 h):\n');
  for (const u of demoUsers) {
    const env = u.sub.toUpperCase().replace(/-/g, '_');
    process.stdout.write(`export TOKEN_${env}=${signToken(u, secret)}\n`);
  }
  process.stdout.write('\n');
}
